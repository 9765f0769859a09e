# Replaced by the test in its copy of this tree with
#   import <source>/nix/lib/set.nix { gen = "<the generated package set>"; }
throw "nixpkgs-fixture: offline.nix names no package set (tests/e2e/test_nixpkgs.py writes it)"
