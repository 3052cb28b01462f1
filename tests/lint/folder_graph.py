#!/usr/bin/env python3
"""Parley's folder layering, checked: the folders of the C++ sources (server/api, manager/links,
…) and the `#include "…"` lines between them form a graph with no cycle. A cycle means two
folders depend on each other, which docs/architecture.md rules out; the check names the
folders of each cycle and one include line for every edge in it.

Unit tests (`*_test.cpp`) and test-support headers are left out: a test may reach across.

Usage: folder_graph.py SOURCE_DIR   (exit 0: no cycle; 1: cycles printed)
"""
import os
import re
import sys

TOPS = ("common", "server", "manager", "botclient", "imageproc")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.MULTILINE)


def is_test_file(name):
    return name.endswith("_test.cpp") or name.endswith("test_support.hpp")


def include_edges(root):
    """{from_folder: {to_folder: "file -> include"}} for includes that leave their folder."""
    edges = {}
    for top in TOPS:
        for folder, _, files in os.walk(os.path.join(root, top)):
            for name in sorted(files):
                if not name.endswith((".cpp", ".hpp")) or is_test_file(name):
                    continue
                path = os.path.join(folder, name)
                source = os.path.relpath(folder, root)
                with open(path, encoding="utf-8") as f:
                    text = f.read()
                for include in INCLUDE.findall(text):
                    target = os.path.dirname(include)
                    if target and target != source and target.split("/")[0] in TOPS:
                        edges.setdefault(source, {}).setdefault(
                            target, f"{os.path.relpath(path, root)} -> {include}")
    return edges


def cycles(edges):
    """The strongly connected components of more than one folder (Tarjan, iterative)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = 0
    nodes = sorted(set(edges) | {t for targets in edges.values() for t in targets})
    for start in nodes:
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, {}))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, {})))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    edges = include_edges(root)
    if not edges:
        print(f"no sources found under {root}", file=sys.stderr)
        return 2
    found = cycles(edges)
    for component in found:
        print("folders that depend on each other: " + ", ".join(component))
        members = set(component)
        for source in component:
            for target, example in sorted(edges.get(source, {}).items()):
                if target in members:
                    print(f"  {example}")
    if not found:
        print(f"{len(set(edges) | {t for v in edges.values() for t in v})} folders, "
              f"{sum(len(v) for v in edges.values())} dependencies between them, no cycle")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
