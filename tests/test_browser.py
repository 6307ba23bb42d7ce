"""The shipped workflows in the real ComfyUI frontend, rendered by headless Chromium on a 1366 x 768 page: each opens
without missing nodes or widget errors, readable (node text drawn, the note and the loaders in view, no overlapping
nodes, no cut titles), the prompt the frontend would queue is exactly what our converter produces, and the
text-to-video workflow, queued from the page on tiny models, ends with StreamingT2V Extend playing its video.

Needs Debian's Chromium (`apt-get install -y chromium`) and the pip package playwright (never `playwright install`:
it drives the system browser). Screenshots go to $STV_ARTIFACTS (default: a pytest temporary folder).
"""
import importlib.util
import io
import itertools
import json
import os
import time

import pytest
import requests
from PIL import Image

from helpers.comfy_server import extra_model_paths, running_server
from helpers.host import PACK_NAME, make_base_directory
from helpers.official_checkpoint import write_complete_streamingt2v
from st2v_modules.headless.conversion import node_layout, ui_to_api
from helpers.ui_workflow import edited_like_a_user
from helpers.workflow_cases import for_tests, load, shipped_workflows

pytestmark = [pytest.mark.host, pytest.mark.server]
CHROMIUM = os.environ.get("STV_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1366, "height": 768}  # the smallest common laptop screen
SETTINGS = {"Comfy.TutorialCompleted": True,  # no template browser on first start
            "Comfy.Minimap.Visible": False}  # the node text threshold stays the frontend's default
APP_READY = "window.app && app.graph && window.LiteGraph && Object.keys(LiteGraph.registered_node_types).length > 100"
WORKFLOWS = shipped_workflows()
IDS = [os.path.basename(p)[:-len(".json")] for p in WORKFLOWS]
RUN_TIMEOUT_S = 900

OPEN_WORKFLOW = """async (wf) => {
    document.querySelectorAll('.p-toast-message').forEach((e) => e.remove());
    await app.loadGraphData(wf);
    await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
    const { workflow, output } = await app.graphToPrompt();
    return JSON.stringify({
        missing: wf.nodes.map((n) => n.type).filter((t) => !(t in LiteGraph.registered_node_types)),
        broken: app.graph.nodes.filter((n) => n.has_errors).map((n) => n.id),
        dialogs: [...document.querySelectorAll('.p-dialog')].map((d) => d.innerText.slice(0, 400)),
        toasts: [...document.querySelectorAll('.p-toast-message')].map((d) => d.innerText.slice(0, 400)),
        workflow, output,
    });
}"""
# What the user sees of the opened workflow: the zoom against the frontend's low-quality threshold (below it node
# text is not drawn), each node's box and badges in graph units, its title measured as LGraphNode.drawTitleText
# measures it, the groups' title bands, and for each node whether a 3 x 3 grid of points on it is the canvas (or
# the node's own DOM widget) rather than the page's menus or outside the page.
LAYOUT = """() => {
    const canvas = app.canvas, element = canvas.canvas, box = element.getBoundingClientRect();
    const { scale, offset: [ox, oy] } = canvas.ds;
    const ctx = element.getContext('2d');
    const seen = (node) => {
        const [x, y, w, h] = node.boundingRect, points = [];
        for (const fx of [0.02, 0.5, 0.98]) for (const fy of [0.02, 0.5, 0.98]) {
            points.push([box.left + (x + fx * w + ox) * scale, box.top + (y + fy * h + oy) * scale]);
        }
        return points.every(([px, py]) => {
            const hit = px >= 0 && py >= 0 && px < innerWidth && py < innerHeight && document.elementFromPoint(px, py);
            return hit && (hit === element || !!hit.closest('.dom-widget'));
        });
    };
    const badges = (node) => {
        const shown = node.badges.map((b) => typeof b === 'function' ? b() : b).filter((b) => b.visible);
        let x = node.width - shown.reduce((sum, b) => sum + b.getWidth(ctx) + 2, 0);
        return shown.map((b) => {
            const rect = [node.pos[0] + x, node.pos[1] - LiteGraph.NODE_TITLE_HEIGHT - 2 - b.height, b.getWidth(ctx), b.height];
            x += rect[2] + 2;
            return rect;
        });
    };
    const nodes = app.graph.nodes.map((node) => {
        ctx.font = node.titleFontStyle;
        return { id: node.id, type: node.type, title: node.getTitle(), rect: [...node.boundingRect], badges: badges(node),
                 title_width: ctx.measureText(node.getTitle()).width,
                 title_room: node.size[0] - 2 * LiteGraph.NODE_TITLE_HEIGHT, seen: seen(node) };
    });
    const groups = app.graph.groups.map((group) => {
        ctx.font = `${group.font_size}px ${LiteGraph.GROUP_FONT}`;
        const width = ctx.measureText(group.title).width + 4;
        return { title: group.title, band: [group.pos[0], group.pos[1], width, group.font_size * 1.4],
                 room: group.size[0] };
    });
    return { scale, threshold: canvas._lowQualityZoomThreshold, low_quality: canvas.low_quality, nodes, groups };
}"""
# The user's part of a run: the tiny files picked in the loaders, small sizes typed into widgets, Queue pressed.
QUEUE_WITH_WIDGETS = """async ([wf, changes]) => {
    await app.refreshComboInNodes();
    await app.loadGraphData(wf);
    for (const [id, values] of Object.entries(changes)) {
        const node = app.graph.getNodeById(Number(id));
        for (const [name, value] of Object.entries(values)) node.widgets.find((w) => w.name === name).value = value;
    }
    await app.queuePrompt(0);
}"""
# The player is a DOM widget, which the frontend keeps hidden while its node is off screen: the user scrolls to it.
SHOW_NODE = "(id) => { app.canvas.centerOnNode(app.graph.getNodeById(id)); app.canvas.setDirty(true, true); }"
PLAYING = """(id) => {
    const video = app.graph.getNodeById(id)?.videoContainer?.querySelector('video');
    return video && video.readyState >= 2 ? [video.src, video.videoWidth, video.videoHeight] : null;
}"""


def missing_browser_reason() -> str | None:
    if not os.path.isfile(CHROMIUM):
        return f"no Chromium at {CHROMIUM}: apt-get install -y chromium (or set STV_CHROMIUM)"
    for package, purpose in (("playwright", "drives Chromium"), ("comfyui_frontend_package", "is the ComfyUI frontend")):
        if importlib.util.find_spec(package) is None:
            return f"pip package {package} ({purpose}) is not installed: pip install -r requirements-test.txt"
    return None


@pytest.fixture(scope="module")
def server(comfyui_path, models_dir, tmp_path_factory):
    """main.py serving the real frontend, with this pack in custom_nodes and the tiny test models."""
    base = make_base_directory()
    config = extra_model_paths(str(tmp_path_factory.mktemp("browser_server")), models_dir)
    with running_server(comfyui_path, base, "--extra-model-paths-config", config) as url:
        for key, value in SETTINGS.items():
            requests.post(f"{url}/settings/{key}", json=value, timeout=10).raise_for_status()
        yield url


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> str:
    folder = os.environ.get("STV_ARTIFACTS") or str(tmp_path_factory.mktemp("browser_artifacts"))
    os.makedirs(folder, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def page(server, tmp_path_factory):
    reason = missing_browser_reason()
    if reason:
        if os.environ.get("STV_REQUIRE_HOST"):
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium_profile")), executable_path=CHROMIUM, args=CHROMIUM_FLAGS,
            headless=True, viewport=VIEWPORT)
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(error.stack))
        page.goto(server, wait_until="load")
        page.wait_for_function(APP_READY, timeout=120_000)
        yield page
        context.close()


@pytest.fixture(scope="module")
def object_info(server) -> dict:
    return requests.get(f"{server}/object_info", timeout=60).json()


def test_the_host_lists_the_workflows_as_templates_with_thumbnails(server):
    """The frontend's template browser shows a pack's workflows/ folder (app/custom_node_manager.py); each card's
    picture is `<name>.jpg` next to the workflow (the frontend asks for .jpg): a small square screenshot."""
    listed = requests.get(f"{server}/api/workflow_templates", timeout=10).json()
    assert sorted(listed[PACK_NAME]) == sorted(IDS)
    for path, name in zip(WORKFLOWS, IDS):
        served = requests.get(f"{server}/api/workflow_templates/{PACK_NAME}/{name}.json", timeout=10)
        assert served.status_code == 200 and served.json() == load(path)
        picture = requests.get(f"{server}/api/workflow_templates/{PACK_NAME}/{name}.jpg", timeout=10)
        assert picture.status_code == 200 and picture.headers["Content-Type"] == "image/jpeg", name
        with Image.open(io.BytesIO(picture.content)) as image:
            assert image.format == "JPEG" and image.width == image.height >= 256, name
        assert len(picture.content) < 64 * 1024, f"{name}.jpg is {len(picture.content)} bytes"


@pytest.mark.parametrize("path", WORKFLOWS, ids=IDS)
def test_workflow_opens_cleanly_and_queues_what_the_converter_makes(path, page, object_info, artifacts):
    workflow = load(path)
    page.errors.clear()  # the frontend's own start-up errors are not the workflow's
    opened = json.loads(page.evaluate(OPEN_WORKFLOW, workflow))
    page.screenshot(path=os.path.join(artifacts, os.path.basename(path)[:-len(".json")] + ".png"))
    assert opened["missing"] == [] and opened["broken"] == [], "node types the frontend does not know"
    assert opened["dialogs"] == [] and opened["toasts"] == [], "the frontend complained while loading"
    assert page.errors == [], "script errors while loading"
    saved = {n["id"]: n.get("widgets_values") for n in workflow["nodes"]}
    assert {n["id"]: n.get("widgets_values") for n in opened["workflow"]["nodes"]} == saved, "widget values moved on load"
    assert opened["output"] == ui_to_api(workflow, object_info)


@pytest.mark.parametrize("path", WORKFLOWS, ids=IDS)
def test_reroute_bypass_and_primitive_convert_as_the_frontend_does(path, page, object_info):
    workflow = load(path)
    layouts = {t: node_layout(object_info[t]) for t in {n["type"] for n in workflow["nodes"]} if t in object_info}
    edited = edited_like_a_user(workflow, layouts)
    opened = json.loads(page.evaluate(OPEN_WORKFLOW, edited))
    assert opened["missing"] == [] and opened["dialogs"] == [] and opened["toasts"] == []
    assert opened["output"] == ui_to_api(edited, object_info)


def overlap(a: list[float], b: list[float]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


@pytest.mark.parametrize("path", WORKFLOWS, ids=IDS)
def test_workflow_opens_readable_on_a_small_screen(path, page):
    """The saved view is above the zoom where the frontend stops drawing node text and shows the note and the
    loaders on 1366 x 768; no node (or its badge) covers another or a group's title, and no title is cut."""
    opened = json.loads(page.evaluate(OPEN_WORKFLOW, load(path)))
    assert opened["missing"] == [] and opened["dialogs"] == []
    view = page.evaluate(LAYOUT)  # what test_workflow_opens_cleanly_... saves as a screenshot
    assert view["threshold"] > 0, "the frontend's level-of-detail threshold is off: the test would not see it"
    assert view["scale"] >= view["threshold"], f"zoom {view['scale']:.2f} is below {view['threshold']:.2f}: no node text"
    assert not view["low_quality"]
    nodes = view["nodes"]
    in_view = [n for n in nodes if n["type"] == "MarkdownNote" or n["type"].startswith("STV_Load")]
    assert len(in_view) >= 2 and [n["title"] for n in in_view if not n["seen"]] == [], "outside the 1366 x 768 view"
    assert [n["title"] for n in nodes if n["title_width"] > n["title_room"]] == [], "titles cut to '...'"
    footprints = [(n["title"], rect) for n in nodes for rect in [n["rect"], *n["badges"]]]
    for a, b in itertools.combinations(nodes, 2):
        assert not any(overlap(r, s) for r in [a["rect"], *a["badges"]] for s in [b["rect"], *b["badges"]]), \
            f"{a['title']} (node {a['id']}) and {b['title']} (node {b['id']}) overlap"
    for group in view["groups"]:
        assert group["band"][2] <= group["room"], f"group title {group['title']!r} is wider than its group"
        assert [title for title, rect in footprints if overlap(group["band"], rect)] == [], \
            f"nodes cover the title of group {group['title']!r}"


def widget_changes(prompt: dict) -> dict:
    """{node id: {widget: value}} that turn a shipped workflow into its tiny test run (tests/workflow_cases.py)."""
    small = for_tests(prompt)
    return {node_id: changed for node_id, node in prompt.items()
            if (changed := {k: v for k, v in small[node_id]["inputs"].items() if v != node["inputs"][k] and not isinstance(v, list)})}


def finished_run(server: str) -> dict:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        queue = requests.get(f"{server}/queue", timeout=10).json()
        history = requests.get(f"{server}/history", timeout=10).json()
        if history and not queue["queue_running"] and not queue["queue_pending"]:
            return list(history.values())[-1]
        time.sleep(1)
    pytest.fail(f"the queued workflow did not finish in {RUN_TIMEOUT_S} s")


def test_text_to_video_queued_from_the_page_ends_with_the_player_in_the_extend_node(page, server, object_info, models_dir,
                                                                                      artifacts):
    write_complete_streamingt2v(models_dir)  # the tiny stand-in for streaming_t2v.ckpt, with its CLIP, VAE and image encoder
    workflow = load(WORKFLOWS[IDS.index("streamingt2v_text_to_video")])
    prompt = ui_to_api(workflow, object_info)
    (extend_id,) = [i for i, n in prompt.items() if n["class_type"] == "STV_Extend"]
    page.errors.clear()
    page.evaluate(QUEUE_WITH_WIDGETS, [workflow, widget_changes(prompt)])
    run = finished_run(server)
    assert run["status"]["status_str"] == "success", run["status"]
    (played,) = run["outputs"][extend_id]["images"]
    page.evaluate(SHOW_NODE, int(extend_id))
    page.wait_for_function(PLAYING, arg=int(extend_id), timeout=60_000)
    src, width, height = page.evaluate(PLAYING, int(extend_id))
    page.screenshot(path=os.path.join(artifacts, "streamingt2v_text_to_video_after_run.png"))
    assert f"filename={played['filename']}" in src and "type=output" in src
    assert (width, height) == (32, 16)  # the tiny run's size (workflow_cases.WIDTH x HEIGHT)
    assert page.errors == [], "script errors while running"
