# One dependency set of a nixpkgs package set (builder/build.c):
#   nix-build nix/nixpkgs-depset.nix --argstr source '{"path": "/srv/nixpkgs"}' \
#     --argstr attrs "python3 python3Packages.numpy" --out-link <gcroot>
# A user environment of the named packages, made by Nix's own builtin
# (builtin:buildenv, what nix-env uses): <out>/bin/... links, no shell and no
# package of the set needed to make it, so it works with any nixpkgs. Each
# package installs its meta.outputsToInstall (else its default output); on a
# file two packages provide, the one named first (sorted) wins.
{ source, attrs, system ? "x86_64-linux" }:
let
  inherit (builtins) map genList length elemAt concatLists toFile;
  pkgs = import (import ./lib/nixpkgs-source.nix { inherit source; }) { inherit system; };
  a = import ./lib/nixpkgs-attrs.nix { inherit pkgs attrs; };
  get = n:
    let w = a.lookup n;
    in if !w.ok then throw "nixpkgs-depset: ${n}: ${w.error}"
    else if (w.value.type or null) != "derivation" then throw "nixpkgs-depset: \"${n}\" is not a derivation"
    else w.value;
  chosen = map get a.names;
  outputsOf = d: map (o: d.${o}) (d.meta.outputsToInstall or [ (d.outputName or "out") ]);
in
if a.names == [ ] then throw "nixpkgs-depset: no attribute paths given"
else
  derivation {
    name = "nixfarm-depset";
    system = "builtin";
    builder = "builtin:buildenv";
    manifest = toFile "manifest.nix" "[ ]";
    derivations = concatLists (genList (i:
      let d = elemAt chosen i; outs = outputsOf d;
      in [ "true" (i + 1) (length outs) ] ++ outs) (length chosen));
    preferLocalBuild = true;
    allowSubstitutes = false;
  }
