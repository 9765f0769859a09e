"""minischema — the JSON Schema keywords schema/*.json use, for stdlib-only
tests: type, enum, properties, required, additionalProperties, items,
minimum, maximum, minLength, maxItems, oneOf, allOf and local $ref."""


def _type_ok(v, t):
    return {
        "object": lambda: isinstance(v, dict),
        "array": lambda: isinstance(v, list),
        "string": lambda: isinstance(v, str),
        "integer": lambda: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda: isinstance(v, (int, float)) and not isinstance(v, bool),
        "boolean": lambda: isinstance(v, bool),
        "null": lambda: v is None,
    }[t]()


def errors(v, schema, root=None, path="$"):
    root = root if root is not None else schema
    out = []
    if "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/"), ref
        target = root
        for part in ref[2:].split("/"):
            target = target[part]
        out += errors(v, target, root, path)
    if "type" in schema:
        ts = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_type_ok(v, t) for t in ts):
            return out + ["%s: %r is not %s" % (path, v, "/".join(ts))]
    if "enum" in schema and v not in schema["enum"]:
        out.append("%s: %r not in %r" % (path, v, schema["enum"]))
    for sub in schema.get("allOf", []):
        out += errors(v, sub, root, path)
    if "oneOf" in schema:
        ok = [s for s in schema["oneOf"] if not errors(v, s, root, path)]
        if len(ok) != 1:
            out.append("%s: matches %d of oneOf" % (path, len(ok)))
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if "minimum" in schema and v < schema["minimum"]:
            out.append("%s: %r < %r" % (path, v, schema["minimum"]))
        if "maximum" in schema and v > schema["maximum"]:
            out.append("%s: %r > %r" % (path, v, schema["maximum"]))
    if isinstance(v, str) and "minLength" in schema and len(v) < schema["minLength"]:
        out.append("%s: shorter than %d" % (path, schema["minLength"]))
    if isinstance(v, list):
        if "maxItems" in schema and len(v) > schema["maxItems"]:
            out.append("%s: more than %d items" % (path, schema["maxItems"]))
        if "items" in schema:
            for i, x in enumerate(v):
                out += errors(x, schema["items"], root, "%s[%d]" % (path, i))
    if isinstance(v, dict):
        props = schema.get("properties", {})
        for k in schema.get("required", []):
            if k not in v:
                out.append("%s: missing %s" % (path, k))
        for k, x in v.items():
            if k in props:
                out += errors(x, props[k], root, "%s.%s" % (path, k))
            elif schema.get("additionalProperties") is False:
                out.append("%s: unexpected %s" % (path, k))
            elif isinstance(schema.get("additionalProperties"), dict):
                out += errors(x, schema["additionalProperties"], root, "%s.%s" % (path, k))
    return out
