# Attribute paths of a nixpkgs package set, walked without ever throwing on
# a missing name: `python3Packages.numpy` -> pkgs.python3Packages.numpy.
# `attrs` is a blank-separated string of paths (checked by the farm:
# segments of [A-Za-z0-9_+'-], never Nix code).
{ pkgs, attrs }:
let
  inherit (builtins) filter isString split head tail tryEval isAttrs length;
  names = filter (n: isString n && n != "") (split "[[:space:]]+" attrs);
  segments = n: filter isString (split "\\." n);
  # { ok, value } or { ok = false; error }.
  walk = v: parts: seen:
    if parts == [ ] then { ok = true; value = v; }
    else
      let
        h = head parts;
        has = tryEval (isAttrs v && v ? ${h});
        here = if seen == "" then h else "${seen}.${h}";
      in
      if !has.success then { ok = false; error = "evaluating \"${seen}\" failed"; }
      else if !has.value then {
        ok = false;
        error = if seen == "" then "no attribute \"${h}\"" else "no attribute \"${h}\" in \"${seen}\"";
      }
      else walk v.${h} (tail parts) here;
  lookup = n: walk pkgs (segments n) "";
in
{
  inherit names lookup;
}
