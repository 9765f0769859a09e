# A nested package set, as python3Packages is in nixpkgs.
{ lib, callPackage, python3 }:
let
  callPy = lib.callPackageWith { inherit callPackage python3 runCommand; };
  runCommand = callPackage ../../build-support/run-command.nix { };
in
{
  greet = callPy ./greet { };
}
