"""The architecture diagram of the synthesized app: its stacks and product templates, the components
(top-level constructs) in each, and which component uses which (a Ref, GetAtt or Sub between them).

Rendered as a Mermaid flowchart (GitLab and GitHub draw it in Markdown), from the templates in a
cdk.out directory: what is drawn is what `cdk deploy` deploys. `make generate` writes it into
docs/architecture.md and the README; `tests/cdk/test_generated_files.py` fails when it is stale.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# CDK's own plumbing (asset copies into the product bucket), not a component of the platform.
_INTERNAL = re.compile(r"^Custom::CDKBucketDeployment")


@dataclass
class Diagram:
    """Templates (by label), their components with resource types, and edges between components."""

    components: dict[str, dict[str, set[str]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(set)))
    edges: set[tuple[str, str, str]] = field(default_factory=set)
    published: dict[str, str] = field(default_factory=dict)


def _references(node: Any) -> set[str]:
    """Logical IDs a template fragment refers to."""
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= _references(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add(value[0] if isinstance(value, list) else str(value).split(".", 1)[0])
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                found |= {name.split(".", 1)[0] for name in re.findall(r"\$\{([^}!]+)\}", text)}
                found |= _references(value)
            else:
                found |= _references(value)
    return found


def _component(path: str, depth: int) -> str | None:
    parts = path.split("/")
    if len(parts) <= depth or _INTERNAL.match(parts[depth]):
        return None
    return parts[depth]


def build_diagram(outdir: Path) -> Diagram:
    """Read every template of a cdk.out directory (synthesized with path metadata)."""
    diagram = Diagram()
    for path in sorted(outdir.glob("*.template.json")):
        template = json.loads(path.read_text())
        resources: dict[str, Any] = template.get("Resources", {})
        is_product = path.name.endswith(".product.template.json")
        owner: dict[str, str] = {}
        label = ""
        for logical_id, resource in resources.items():
            cdk_path = resource.get("Metadata", {}).get("aws:cdk:path", "")
            parts = cdk_path.split("/")
            label = "/".join(parts[:2]) if is_product else parts[0]
            component = _component(cdk_path, 2 if is_product else 1)
            if component is None:
                continue
            owner[logical_id] = component
            diagram.components[label][component].add(resource["Type"].removeprefix("AWS::").replace("::", " "))
            if resource["Type"] == "AWS::ServiceCatalog::CloudFormationProduct":
                diagram.published[f"{parts[0]}/{component}"] = component
        for logical_id, resource in resources.items():
            if logical_id not in owner:
                continue
            for target in _references(resource) & owner.keys():
                if owner[target] != owner[logical_id]:
                    diagram.edges.add((label, owner[logical_id], owner[target]))
    return diagram


def _node(label: str, component: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", f"{label}__{component}")


def render_mermaid(diagram: Diagram) -> str:
    """The Mermaid source: one subgraph per template, solid arrows for `uses`, dotted for `publishes`."""
    lines = ["flowchart LR"]
    for label in sorted(diagram.components):
        lines.append(f'  subgraph {_node(label, "")}["{label}"]')
        for component, types in sorted(diagram.components[label].items()):
            kinds = ", ".join(sorted(types))
            lines.append(f'    {_node(label, component)}["{component}<br/><small>{kinds}</small>"]')
        lines.append("  end")
    for label, source, target in sorted(diagram.edges):
        lines.append(f"  {_node(label, source)} --> {_node(label, target)}")
    products = {label.split("/", 1)[1]: label for label in diagram.components if "/" in label}
    for stack_product, component in sorted(diagram.published.items()):
        stack = stack_product.split("/", 1)[0]
        template = component.removesuffix("Product") + "Template"
        if template in products:
            lines.append(f"  {_node(stack, component)} -. publishes .-> {_node(products[template], '')}")
    return "\n".join(lines) + "\n"


def render_markdown(outdir: Path) -> str:
    """docs/architecture.md: the diagram and how to read it."""
    return (
        "# Architecture of the synthesized app\n\n"
        "Generated by `make generate` from the templates `cdk synth` writes (tooling/architecture.py):\n"
        "each box is a template (a stack, or a product template a SageMaker project launches), each node\n"
        "a component of it with the resource types it holds, and an arrow `A --> B` means A uses B (a\n"
        "`Ref`, `GetAtt` or `Sub`). `tests/cdk/test_generated_files.py` fails when this file is stale.\n\n"
        f"```mermaid\n{render_mermaid(build_diagram(outdir))}```\n"
    )
