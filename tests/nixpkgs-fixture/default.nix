# A small nixpkgs-shaped tree for the farm's offline tests
# (tests/e2e/test_nixpkgs.py): called like nixpkgs, `import ./. { system; }`,
# with nested attribute sets and a callPackage structure; its derivations are
# built from the farm's offline Debian-derived set (offline.nix), so nothing
# is downloaded.
{ system ? builtins.currentSystem, config ? { }, overlays ? [ ] }:
import ./pkgs/top-level/all-packages.nix {
  inherit system;
  lib = import ./lib;
  offline = import ./offline.nix;
}
