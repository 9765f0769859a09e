# The offline package set's user-facing attributes (names are the keys of
# <gen>/packages.json, written by nix/regen --out <gen>). Build one with:
#   nix-build nix/packages.nix --argstr gen <gen> -A python3
{ gen }:
(import ./lib/set.nix { inherit gen; }).packages
