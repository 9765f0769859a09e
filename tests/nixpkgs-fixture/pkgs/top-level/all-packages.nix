{ system, lib, offline }:
let
  self = {
    inherit lib system;
    callPackage = lib.callPackageWith self;

    # Straight from the offline set.
    inherit (offline.packages) busybox bash python3;

    runCommand = self.callPackage ../build-support/run-command.nix { };

    hello = self.callPackage ../tools/misc/hello { };
    broken = self.callPackage ../tools/misc/broken { };
    python3Packages = lib.recurseIntoAttrs (self.callPackage ../development/python-modules { });

    # What a removed package looks like in nixpkgs.
    removedPackage = throw "removedPackage has been removed: use hello";
    # Not a package.
    fixtureVersion = "24.11-fixture";
  };
in
self
