"""Browser-format workflow pieces, written the way the ComfyUI frontend saves them, and edits a user makes
in the browser (a Reroute on a link, a widget fed by a Primitive, a bypassed or muted node)."""
from __future__ import annotations

import copy

LINK_TYPE = 5  # index of the type in a saved link [id, origin_id, origin_slot, target_id, target_slot, type]


def node(node_id: int, node_type: str, widgets: list | None = None, inputs: list | None = None,
         outputs: list | None = None, mode: int = 0, title: str | None = None, pos=(0, 0)) -> dict:
    """inputs: (name, type, link) or (name, type, link, widget name); outputs: (name, type, [link ids])."""
    saved_inputs = []
    for entry in inputs or []:
        name, slot_type, link = entry[:3]
        item = {"name": name, "type": slot_type, "link": link}
        if len(entry) > 3:
            item["widget"] = {"name": entry[3]}
        saved_inputs.append(item)
    data = {"id": node_id, "type": node_type, "pos": list(pos), "size": [300, 100], "flags": {}, "order": 0, "mode": mode,
            "inputs": saved_inputs,
            "outputs": [{"name": n, "type": t, "links": links} for n, t, links in outputs or []],
            "properties": {"Node name for S&R": node_type}, "widgets_values": list(widgets or [])}
    if title:
        data["title"] = title
    return data


def workflow(nodes: list[dict], links: list[list], groups: list | None = None) -> dict:
    return {"id": "00000000-0000-4000-8000-000000000000", "revision": 0, "last_node_id": max(n["id"] for n in nodes),
            "last_link_id": max((link[0] for link in links), default=0), "nodes": nodes, "links": links,
            "groups": groups or [], "config": {}, "extra": {}, "version": 0.4}


def _node(wf: dict, node_id: int) -> dict:
    return next(n for n in wf["nodes"] if n["id"] == node_id)


def _link(wf: dict, link_id: int) -> list:
    return next(link for link in wf["links"] if link[0] == link_id)


def _new_ids(wf: dict) -> tuple[int, int]:
    return max(n["id"] for n in wf["nodes"]) + 1, max((link[0] for link in wf["links"]), default=0) + 1


def _retarget_output(wf: dict, link: list, new_link_id: int) -> None:
    outputs = _node(wf, link[1])["outputs"][link[2]]
    outputs["links"] = [new_link_id if i == link[0] else i for i in outputs["links"]]


def insert_node_on_link(wf: dict, link_id: int, node_type: str, mode: int = 0) -> dict:
    """A copy with a one-in one-out node (a Reroute, or e.g. ImageInvert) placed on a link."""
    wf = copy.deepcopy(wf)
    link = _link(wf, link_id)
    new_id, new_link = _new_ids(wf)
    slot_type = link[LINK_TYPE]
    name = "" if node_type == "Reroute" else slot_type.lower()
    in_type = "*" if node_type == "Reroute" else slot_type
    wf["nodes"].append(node(new_id, node_type, inputs=[(name, in_type, new_link)], mode=mode,
                            outputs=[("" if node_type == "Reroute" else slot_type, slot_type, [link_id])]))
    if node_type == "Reroute":
        wf["nodes"][-1].update(properties={"showOutputText": False, "horizontal": False}, widgets_values=[])
    _retarget_output(wf, link, new_link)
    wf["links"].append([new_link, link[1], link[2], new_id, 0, slot_type])
    link[1], link[2] = new_id, 0
    wf["last_node_id"], wf["last_link_id"] = new_id, new_link
    return wf


def feed_widget_from_primitive(wf: dict, node_id: int, widget_name: str, value, slot_type: str = "INT") -> dict:
    """A copy where a PrimitiveNode drives one widget of a node (its widget converted to an input)."""
    wf = copy.deepcopy(wf)
    new_id, new_link = _new_ids(wf)
    target = _node(wf, node_id)
    widgets = [value, "fixed"] if widget_name in ("seed", "noise_seed") else [value]
    wf["nodes"].append(node(new_id, "PrimitiveNode", widgets=widgets, outputs=[(slot_type, slot_type, [new_link])]))
    wf["nodes"][-1]["outputs"][0]["widget"] = {"name": widget_name}
    wf["nodes"][-1]["properties"] = {"Run widget replace on values": False}
    target["inputs"].append({"name": widget_name, "type": slot_type, "widget": {"name": widget_name}, "link": new_link})
    wf["links"].append([new_link, new_id, 0, node_id, len(target["inputs"]) - 1, slot_type])
    wf["last_node_id"], wf["last_link_id"] = new_id, new_link
    return wf


def set_mode(wf: dict, node_id: int, mode: int) -> dict:
    wf = copy.deepcopy(wf)
    _node(wf, node_id)["mode"] = mode
    return wf


def links_of_type(wf: dict, slot_type: str) -> list[int]:
    return [link[0] for link in wf["links"] if link[LINK_TYPE] == slot_type]


def nodes_of_type(wf: dict, node_type: str) -> list[dict]:
    return [n for n in wf["nodes"] if n["type"] == node_type]


def edited_like_a_user(wf: dict, layouts: dict) -> dict:
    """A copy with the first link rerouted, a bypassed Invert Image on the first IMAGE link and the first seed driven by
    a PrimitiveNode holding the same value: the queued prompt must not change. `layouts`: node type -> NodeLayout."""
    edited = insert_node_on_link(wf, wf["links"][0][0], "Reroute")
    edited = insert_node_on_link(edited, links_of_type(edited, "IMAGE")[0], "ImageInvert", mode=4)
    seeded = next(n for n in wf["nodes"] if n["type"] in layouts and any(w.name == "seed" for w in layouts[n["type"]].widgets))
    names = [w.name for w in layouts[seeded["type"]].widgets]
    return feed_widget_from_primitive(edited, seeded["id"], "seed", seeded["widgets_values"][names.index("seed")])
