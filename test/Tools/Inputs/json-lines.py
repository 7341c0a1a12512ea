"""Prints each value of a JSON file as one line `path = value`, for FileCheck.

Objects are walked in key order, lists of objects or lists by index
(`args[0].name`); other lists are printed whole (`args[0].shape = [...]`).
"""
import json
import sys


def walk(path, value):
    if isinstance(value, dict):
        for key in sorted(value):
            walk(f"{path}.{key}" if path else key, value[key])
    elif isinstance(value, list) and any(
        isinstance(v, (dict, list)) for v in value
    ):
        for i, v in enumerate(value):
            walk(f"{path}[{i}]", v)
    else:
        print(f"{path} = {json.dumps(value)}")


with open(sys.argv[1]) as f:
    walk("", json.load(f))
