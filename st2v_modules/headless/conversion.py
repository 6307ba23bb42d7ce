"""A workflow as the ComfyUI browser saves it (nodes, links, widgets_values) -> the API prompt it queues.

Mirrors the frontend's `graphToPrompt` (ComfyUI_frontend 1.27): widget values are matched to inputs in
the order the frontend creates widgets from the node definitions of `/object_info` (required inputs,
then optional ones, each in `input_order`; a seed-like INT carries one extra `control_after_generate`
value, a combo with that option two, an upload combo one `upload` button value; Preview Any sends
its display widget); links are followed
through Reroute nodes and bypassed (mode 4) nodes; PrimitiveNode values land in the widgets they feed;
muted (mode 2) nodes, notes and groups produce nothing. Pure Python: usable without ComfyUI.

    prompt = ui_to_api(json.load(open("workflow.json")), requests.get(url + "/object_info").json())
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

MUTED, BYPASSED = 2, 4
NOTES = ("Note", "MarkdownNote")
REROUTE, PRIMITIVE = "Reroute", "PrimitiveNode"
VIRTUAL_NODES = NOTES + (REROUTE, PRIMITIVE)
WIDGET_TYPES = ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO")
SEED_NAMES = ("seed", "noise_seed")  # the frontend gives these a control widget even without the option
UPLOAD_OPTIONS = ("image_upload", "video_upload", "animated_image_upload")
UPLOAD_WIDGET = "upload"
ANY_TYPES = ("*", "")
# widgets the frontend's own extensions add (not in /object_info, never saved): queued with their value after loading
FRONTEND_WIDGETS = {"PreviewAny": {"preview": ""}}


class ConversionError(ValueError):
    """A workflow this ComfyUI cannot run as saved; the message names the node and what to do."""


@dataclass(frozen=True)
class Widget:
    name: str
    sent: bool  # False for values the frontend keeps in the workflow but never queues (controls, upload button)
    dynamic_prompt: bool = False


@dataclass(frozen=True)
class NodeLayout:
    """What the frontend builds from a node definition: its input sockets (in order) and its widgets."""
    inputs: tuple[tuple[str, str], ...]  # (name, type): sockets first, then one per widget input
    widgets: tuple[Widget, ...]
    names: frozenset[str]


def check_workflow(workflow) -> None:
    """The file's shape, before anything reaches ComfyUI: a browser workflow (nodes and links) or an API prompt."""
    if not isinstance(workflow, dict):
        raise ConversionError(f"the workflow is a JSON {_json_kind(workflow)}; expected a JSON object: a workflow saved "
                              "from ComfyUI (Save, or Export (API)).")
    if "nodes" in workflow:
        nodes = workflow["nodes"]
        if not isinstance(nodes, list) or not isinstance(workflow.get("links", []), list):
            raise ConversionError("the workflow's 'nodes' and 'links' must be lists; open the file in ComfyUI and save it again.")
        for position, node in enumerate(nodes):
            if not isinstance(node, dict) or "id" not in node or not isinstance(node.get("type"), str):
                node_id = node.get("id", "?") if isinstance(node, dict) else "?"
                raise ConversionError(f"node {node_id} (entry {position} of 'nodes') has no 'type' (its node class) or no "
                                      "'id'; the file was edited by hand or is damaged: open it in ComfyUI and save it again.")
        return
    if not workflow:
        raise ConversionError("the workflow holds no nodes.")
    for node_id, node in workflow.items():
        if not isinstance(node, dict) or not isinstance(node.get("class_type"), str) or not isinstance(node.get("inputs", {}), dict):
            raise ConversionError(f"node {node_id} of the API workflow has no 'class_type' (its node class) or its 'inputs' "
                                  "are not an object; export the workflow again with Export (API), or fix that node.")


def _json_kind(value) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}.get(type(value), "value")


def ui_to_api(workflow: dict, object_info: dict, rng: random.Random | None = None) -> dict:
    """The API prompt of a browser-format workflow, checked against the server's node definitions.

    Raises ConversionError when a node type is unknown, or a node's saved widget values or inputs do not
    match its definition (the node was renamed or changed since the workflow was saved). `rng` picks the
    options of `{a|b}` dynamic prompts, as the frontend does when it queues.
    """
    if (workflow.get("definitions") or {}).get("subgraphs"):
        raise ConversionError("This workflow contains subgraphs; unpack them (right-click > Unpack Subgraph) and save it again.")
    graph = _Graph(workflow, object_info)
    prompt = {}
    for node in workflow["nodes"]:
        if node["type"] in VIRTUAL_NODES or node.get("mode", 0) in (MUTED, BYPASSED):
            continue
        prompt[str(node["id"])] = {"inputs": graph.api_inputs(node, rng or random.Random()), "class_type": node["type"],
                                   "_meta": {"title": node.get("title") or graph.display_name(node["type"])}}
    for entry in prompt.values():  # inputs fed by muted nodes are left out, as the frontend does
        entry["inputs"] = {k: v for k, v in entry["inputs"].items() if not (_is_link(v) and v[0] not in prompt)}
    return prompt


def node_layout(node_def: dict) -> NodeLayout:
    """Sockets and widgets, in the order the frontend creates them for this `/object_info` entry."""
    ordered = _ordered_inputs(node_def)
    sockets, widget_inputs, widgets = [], [], []
    for name, spec, _ in ordered:
        kind, options = ("COMBO" if isinstance(spec[0], list) else spec[0]), _options(spec)
        if kind not in WIDGET_TYPES or options.get("forceInput"):
            sockets.append((name, kind))
            continue
        widget_inputs.append((name, kind))
        widgets.append(Widget(name, True, kind == "STRING" and bool(options.get("dynamicPrompts"))))
        control = options.get("control_after_generate", kind == "INT" and name in SEED_NAMES)
        if control and kind == "INT":
            widgets.append(Widget("control_after_generate", False))
        elif control and kind == "COMBO":
            widgets += [Widget("control_after_generate", False), Widget("control_filter_list", False)]
    if any(_options(spec).get(o) is True for _, spec, required in ordered if required for o in UPLOAD_OPTIONS):
        widgets.append(Widget(UPLOAD_WIDGET, False))
    return NodeLayout(tuple(sockets + widget_inputs), tuple(widgets), frozenset(name for name, _, _ in ordered))


def _options(spec: list) -> dict:
    return spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}


def _ordered_inputs(node_def: dict) -> list[tuple[str, list, bool]]:
    """(name, spec, required): required then optional, each in `input_order` when the server sends one."""
    ordered = []
    for group in ("required", "optional"):
        specs = node_def.get("input", {}).get(group, {})
        order = node_def.get("input_order", {}).get(group) or list(specs)
        ordered += [(name, specs[name], group == "required") for name in order if name in specs]
        ordered += [(name, spec, group == "required") for name, spec in specs.items() if name not in order]
    return ordered


def process_dynamic_prompt(text: str, rng: random.Random) -> str:
    """The frontend's dynamic prompts: C-style comments removed, `{a|b|c}` replaced by one option, `\\{` kept."""
    text = re.sub(r"/\*[\s\S]*?\*/|//.*", "", text)
    position = 0

    def parse(inside_choice: bool) -> list[str]:
        nonlocal position
        options, current = [], ""
        while position < len(text):
            char = text[position]
            position += 1
            if char == "\\" and position < len(text):
                current += char + text[position]
                position += 1
            elif char == "{":
                current += rng.choice(parse(True))
            elif char == "}" and inside_choice:
                break
            elif char == "|" and inside_choice:
                options.append(current)
                current = ""
            else:
                current += char
        return options + [current]

    return re.sub(r"\\([{}|])", r"\1", parse(False)[0])


def _is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], int)


class _Graph:
    def __init__(self, workflow: dict, object_info: dict):
        self.object_info = object_info
        self.nodes = {str(n["id"]): n for n in workflow["nodes"]}
        self.links = {_link_id(link): _link_fields(link) for link in workflow.get("links", [])}
        self.layouts = {}
        for node in workflow["nodes"]:
            if node["type"] not in VIRTUAL_NODES:
                self.layouts[str(node["id"])] = self._checked_layout(node)

    def display_name(self, node_type: str) -> str:
        return self.object_info[node_type].get("display_name") or node_type

    def _checked_layout(self, node: dict) -> NodeLayout:
        label = _label(node)
        if node["type"] not in self.object_info:
            raise ConversionError(f"{label}: node type {node['type']!r} is not installed in this ComfyUI (a missing custom node "
                                "pack, or a node that was renamed); install or update the pack, or replace the node.")
        layout = node_layout(self.object_info[node["type"]])
        values = node.get("widgets_values") or []
        if not isinstance(values, list):
            raise ConversionError(f"{label}: widgets_values is saved as {type(values).__name__}; expected a list.")
        if len(values) != len(layout.widgets):
            expected = ", ".join(w.name for w in layout.widgets) or "none"
            raise ConversionError(f"{label}: {len(values)} widget values saved but the node has {len(layout.widgets)} "
                                f"widgets ({expected}); its inputs changed since the workflow was saved: open it in "
                                "ComfyUI, check the widgets and save it again.")
        unknown = [i["name"] for i in node.get("inputs") or [] if i["name"] not in layout.names]
        if unknown:
            raise ConversionError(f"{label}: input {unknown[0]!r} no longer exists on {node['type']}; reconnect the link to "
                                f"one of: {', '.join(sorted(layout.names))}.")
        return layout

    def api_inputs(self, node: dict, rng: random.Random) -> dict:
        node_id = str(node["id"])
        inputs = {}
        for widget, value in zip(self.layouts[node_id].widgets, node.get("widgets_values") or []):
            if not widget.sent:
                continue
            value = self._primitive_value(node, widget.name, value)
            if widget.dynamic_prompt and isinstance(value, str):
                value = process_dynamic_prompt(value, rng)
            inputs[widget.name] = {"__value__": value} if isinstance(value, list) else value
        inputs.update(FRONTEND_WIDGETS.get(node["type"], {}))
        for slot in node.get("inputs") or []:
            origin = self._follow(slot.get("link"), slot.get("type", "*"), set())
            if origin is not None:
                inputs[slot["name"]] = [origin[0], origin[1]]
        return inputs

    def _primitive_value(self, node: dict, widget_name: str, value: Any) -> Any:
        """A widget fed by a PrimitiveNode takes the primitive's value when queued."""
        for slot in node.get("inputs") or []:
            if slot["name"] == widget_name and slot.get("link") in self.links:
                origin = self.nodes.get(self.links[slot["link"]][0])
                if origin is not None and origin["type"] == PRIMITIVE and origin.get("widgets_values"):
                    return origin["widgets_values"][0]
        return value

    def _follow(self, link_id: int | None, slot_type: str, visited: set) -> tuple[str, int] | None:
        """The node and output a link really comes from, looking through Reroutes and bypassed nodes."""
        if link_id is None:
            return None
        if link_id not in self.links:
            raise ConversionError(f"Link {link_id} is referenced by a node but missing from the workflow's links; "
                                "reconnect it in ComfyUI and save again.")
        origin_id, origin_slot = self.links[link_id]
        if (origin_id, origin_slot) in visited:
            raise ConversionError(f"Links loop through node {origin_id}; remove the cycle.")
        visited.add((origin_id, origin_slot))
        origin = self.nodes.get(origin_id)
        if origin is None:
            raise ConversionError(f"Link {link_id} starts at node {origin_id}, which is not in the workflow; reconnect it.")
        if origin.get("mode", 0) == BYPASSED and origin["type"] not in VIRTUAL_NODES:
            index = self._bypass_input(origin, origin_slot, slot_type)
            if index is None:
                return None
            name, own_type = self.layouts[origin_id].inputs[index]
            return self._follow(self._link_into(origin, name), own_type, visited)
        if origin["type"] == REROUTE:
            inputs = origin.get("inputs") or []
            return self._follow(inputs[origin_slot].get("link"), slot_type, visited) if origin_slot < len(inputs) else None
        if origin["type"] in VIRTUAL_NODES:
            return None
        return origin_id, origin_slot

    def _bypass_input(self, node: dict, output_slot: int, target_type: str) -> int | None:
        """Which input a bypassed node passes to its output: the same slot if the types fit, else the first that fits."""
        inputs = self.layouts[str(node["id"])].inputs
        output_type = node["outputs"][output_slot]["type"]
        if target_type in ANY_TYPES:
            return output_slot if len(inputs) > output_slot else (0 if inputs else None)
        if output_slot < len(inputs) and _fits(inputs[output_slot][1], output_type) and _fits(inputs[output_slot][1], target_type):
            return output_slot
        for index, (_, input_type) in enumerate(inputs):
            if input_type == target_type:
                return index
        return next((i for i, (_, t) in enumerate(inputs) if _fits(t, output_type) and _fits(t, target_type)), None)

    @staticmethod
    def _link_into(node: dict, input_name: str) -> int | None:
        return next((i.get("link") for i in node.get("inputs") or [] if i["name"] == input_name), None)


def _fits(a: str, b: str) -> bool:
    """Whether two slot types may connect (the frontend's rule: `*`, equal, or a shared entry of comma lists)."""
    if a in ANY_TYPES or b in ANY_TYPES or a == b:
        return True
    return bool(set(str(a).lower().split(",")) & set(str(b).lower().split(",")))


def _link_id(link: list | dict) -> int:
    return link["id"] if isinstance(link, dict) else link[0]


def _link_fields(link: list | dict) -> tuple[str, int]:
    """(origin node id, origin slot) of a link saved as an array or (newer files) an object."""
    if isinstance(link, dict):
        return str(link["origin_id"]), int(link["origin_slot"])
    return str(link[1]), int(link[2])


def _label(node: dict) -> str:
    title = node.get("title")
    return f"Node {node['id']} ({title or node['type']})"
