# The top-level attribute names of a nixpkgs package set, sorted
# (builder/nixpkgs_eval.c keeps them per set revision, so that a name whose
# first part is not one of them is refused, with the closest names, without
# evaluating anything):
#   nix-instantiate --eval --strict --json nix/nixpkgs-names.nix --argstr source '{"path": "..."}'
{ source, system ? "x86_64-linux" }:
builtins.attrNames (import (import ./lib/nixpkgs-source.nix { inherit source; }) { inherit system; })
