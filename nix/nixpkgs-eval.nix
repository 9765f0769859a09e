# What the farm caches per attribute path of a nixpkgs package set
# (builder/nixpkgs_eval.c, common/store_evalcache.c):
#   nix-instantiate --eval --strict --json nix/nixpkgs-eval.nix \
#     --argstr source '{"path": "/srv/nixpkgs"}' --argstr attrs "python3 python3Packages.numpy"
# gives { "<attr>": { ok = true; name; version; out_path; description; }
#       | { ok = false; error; } }. Never throws for a bad name: a missing
# attribute, one that throws (a removed alias) and one that is not a
# derivation each get their sentence.
{ source, attrs, system ? "x86_64-linux" }:
let
  inherit (builtins) listToAttrs map tryEval deepSeq parseDrvName isAttrs isString;
  pkgs = import (import ./lib/nixpkgs-source.nix { inherit source; }) { inherit system; };
  a = import ./lib/nixpkgs-attrs.nix { inherit pkgs attrs; };
  info = n: v:
    if !(isAttrs v && (v.type or null) == "derivation") then {
      ok = false;
      error = "\"${n}\" is not a derivation" + (if isAttrs v then " (an attribute set: name a package inside it)" else "");
    }
    else {
      ok = true;
      name = v.name;
      version = if isString (v.version or null) then v.version else (parseDrvName v.name).version;
      out_path = v.outPath;
      # meta is only informative: one that throws does not make the package
      # unavailable.
      description =
        let d = tryEval (v.meta.description or null);
        in if d.success && isString d.value then d.value else null;
    };
  describe = n:
    let
      w = a.lookup n;
      r = tryEval (let i = info n w.value; in deepSeq i i);
    in
    if !w.ok then { ok = false; inherit (w) error; }
    else if r.success then r.value
    else { ok = false; error = "evaluating \"${n}\" failed (it throws, e.g. a removed or broken package)"; };
in
# The set itself is forced outside any tryEval: a checkout that does not
# evaluate fails the whole command (the farm reports Nix's error and caches
# nothing), rather than reading as "no such attribute".
if !(builtins.isAttrs pkgs) then throw "nixfarm: the nixpkgs source did not give an attribute set"
else listToAttrs (map (n: { name = n; value = describe n; }) a.names)
