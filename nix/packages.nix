# The offline package set's user-facing attributes (names are the keys of
# nix/packages.json). Build one with: nix-build nix/packages.nix -A python3
(import ./lib/set.nix { }).packages
