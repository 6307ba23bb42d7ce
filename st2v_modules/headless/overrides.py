"""Changes to an API-format workflow from the command line: `--set node.input=value` and the friendly
`--prompt`, `--negative`, `--seed` and `--frames`, found by following the graph rather than by node ids.

A node is named by its id, its title or its class (when only one node has that class). The aliases:
- prompt / negative: the text of every text encoder that reaches a `positive` / `negative` input,
  through nodes that pass conditioning on (such as StreamingT2V Conditioning); a text wired from a primitive is set
  there, and a text derived from it by string nodes (the enhancer's caption: prompt + ", ") follows it;
- seed: every `seed` and `noise_seed`;
- frames: the video's total length. With StreamingT2V Extend in the graph it sets `frames_to_add` to
  the total minus the first chunk (Empty Video Latent's frames); without, Empty Video Latent's frames.
"""
from __future__ import annotations

from typing import Any

Prompt = dict[str, dict[str, Any]]
TEXT_INPUTS = ("text", "value", "string")
SEED_INPUTS = ("seed", "noise_seed")
EXTEND_NODES = ("STV_Extend", "STV_ExtendAdvanced")
FIRST_CHUNK_LATENT = "STV_EmptyVideoLatent"


class OverrideError(ValueError):
    """An override that names nothing in the workflow; the message lists what there is."""


def is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[1], int)


def title(prompt: Prompt, node_id: str) -> str:
    return prompt[node_id].get("_meta", {}).get("title") or prompt[node_id]["class_type"]


def find_node(prompt: Prompt, name: str) -> str:
    """A node id from an id, a title or a class that only one node has."""
    if name in prompt:
        return name
    for key in ("title", "class"):
        matches = [i for i in prompt if (title(prompt, i) if key == "title" else prompt[i]["class_type"]) == name]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise OverrideError(f"{len(matches)} nodes are called {name!r} (ids {', '.join(matches)}); name one by its id.")
    names = ", ".join(f"{i} ({title(prompt, i)})" for i in prompt)
    raise OverrideError(f"no node {name!r} in the workflow; its nodes are: {names}")


def convert_value(text: str, current: Any) -> Any:
    """The command-line text as the type the input already has."""
    if isinstance(current, bool):
        if text.lower() not in ("true", "false"):
            raise OverrideError(f"{text!r} is not true or false")
        return text.lower() == "true"
    for kind in (int, float):
        if isinstance(current, kind):
            try:
                return kind(text)
            except ValueError:
                raise OverrideError(f"{text!r} is not a number ({kind.__name__})") from None
    return text


def wired_value(prompt: Prompt, node_id: str, name: str, value_inputs: tuple[str, ...]) -> tuple[str, str]:
    """The value node behind a wired input (a primitive: none of its own inputs wired) and its value input."""
    source = str(prompt[node_id]["inputs"][name][0])
    inputs = prompt[source]["inputs"]
    value_input = next((k for k in value_inputs if k in inputs), None)
    if value_input is None or any(is_link(v) for v in inputs.values()):
        raise OverrideError(f"{name} of node {node_id} is wired to node {source} ({title(prompt, source)}); set that node instead.")
    return source, value_input


def set_input(prompt: Prompt, node: str, name: str, text: str, changes: list[str]) -> None:
    """Set one input; an input wired to a value node (a primitive: no inputs of its own wired) is set there."""
    node_id = find_node(prompt, node)
    inputs = prompt[node_id]["inputs"]
    if name not in inputs:
        raise OverrideError(f"node {node_id} ({title(prompt, node_id)}) has no input {name!r}; it has: {', '.join(inputs)}")
    if is_link(inputs[name]):
        set_input(prompt, *wired_value(prompt, node_id, name, TEXT_INPUTS + SEED_INPUTS), text, changes)
        return
    try:
        inputs[name] = convert_value(text, inputs[name])
    except OverrideError as error:
        raise OverrideError(f"{node_id}.{name}: {error}") from None
    changes.append(f"{node_id} ({title(prompt, node_id)}).{name} = {inputs[name]!r}")


def apply_set(prompt: Prompt, assignment: str, changes: list[str]) -> None:
    """`node.input=value` (node: id, title or class)."""
    target, eq, value = assignment.partition("=")
    node, dot, name = target.rpartition(".")
    if not eq or not dot or not node:
        raise OverrideError(f"--set {assignment!r}: write node.input=value, e.g. KSampler.steps=20")
    set_input(prompt, node, name, value, changes)


def text_sources(prompt: Prompt, role: str) -> list[str]:
    """Nodes holding the text that ends up in a `positive` or `negative` input."""
    found: list[str] = []

    def follow(link: Any) -> None:
        if not is_link(link) or str(link[0]) not in prompt:
            return
        source = str(link[0])
        inputs = prompt[source]["inputs"]
        if "text" in inputs:
            if source not in found:
                found.append(source)
        elif role in inputs:
            follow(inputs[role])

    for node in prompt.values():
        follow(node["inputs"].get(role))
    return found


def text_holders(prompt: Prompt, node_id: str, name: str) -> list[tuple[str, str]]:
    """The (node, input) pairs whose own text reaches input `name` of a node: the input itself when it holds the text,
    else the texts that feed it through string nodes (a primitive, a Concatenate: a caption derived from the prompt
    follows it, the delimiter stays)."""
    value = prompt[node_id]["inputs"][name]
    if not is_link(value):
        return [(node_id, name)]
    source = str(value[0])
    inputs = prompt[source]["inputs"]
    linked = [k for k, v in inputs.items() if is_link(v) and (k in TEXT_INPUTS or k.startswith("string"))]
    if linked:
        return [holder for k in linked for holder in text_holders(prompt, source, k)]
    return [wired_value(prompt, node_id, name, TEXT_INPUTS)]


def apply_aliases(prompt: Prompt, prompt_text: str | None = None, negative: str | None = None, seed: int | None = None,
                  frames: int | None = None) -> list[str]:
    changes: list[str] = []
    for role, text in (("positive", prompt_text), ("negative", negative)):
        if text is None:
            continue
        sources = text_sources(prompt, role)
        if not sources:
            raise OverrideError(f"no text encoder feeds a {role} input in this workflow; use --set node.text=...")
        holders = dict.fromkeys(holder for source in sources for holder in text_holders(prompt, source, "text"))
        for node_id, name in holders:
            set_input(prompt, node_id, name, text, changes)
    if seed is not None:
        seeded = [(i, k) for i, n in prompt.items() for k in SEED_INPUTS if k in n["inputs"]]
        if not seeded:
            raise OverrideError("no node in this workflow has a seed; use --set node.input=...")
        for node_id, name in seeded:
            set_input(prompt, node_id, name, str(seed), changes)
    if frames is not None:
        set_frames(prompt, frames, changes)
    return changes


def set_frames(prompt: Prompt, total: int, changes: list[str]) -> None:
    extends = [i for i, n in prompt.items() if n["class_type"] in EXTEND_NODES]
    latents = [i for i, n in prompt.items() if n["class_type"] == FIRST_CHUNK_LATENT]
    if not extends:
        if len(latents) != 1:
            raise OverrideError("--frames needs one Empty Video Latent or a StreamingT2V Extend node; use --set instead.")
        set_input(prompt, latents[0], "frames", str(total), changes)
        return
    if len(extends) != 1 or len(latents) != 1 or is_link(prompt[latents[0]]["inputs"]["frames"]):
        raise OverrideError("--frames: this workflow's first chunk length is not one Empty Video Latent, so the total "
                            "is ambiguous; set frames_to_add with --set <extend node>.frames_to_add=N.")
    first = prompt[latents[0]]["inputs"]["frames"]
    if total <= first:
        raise OverrideError(f"--frames {total}: the first chunk already has {first} frames; ask for more.")
    set_input(prompt, extends[0], "frames_to_add", str(total - first), changes)
