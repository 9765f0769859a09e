# One dependency set:
#   nix-build nix/depset.nix --argstr names "python3 gcc" --argstr gen <dir>
# (<dir>: the generated manifests of this machine, nix/regen --out <dir>)
# builds ONE store path with bin/<name> links to every package's binaries
# and a file `closure` listing every store path needed at run time (one per
# line, sorted, including this output itself), and `env` (PATH, LOCPATH).
# bash is always part of the set (bin/sh for commands with shell syntax).
#
# `names` is only ever a string of attribute names (separated by blanks):
# the caller never passes Nix code. Unknown names fail evaluation with a
# message naming them.
{ names, gen }:
let
  inherit (builtins) filter isString split map sort concatStringsSep
    attrNames genList length elemAt lessThan;
  set = import ./lib/set.nix { inherit gen; };
  pkgs = set.packages;

  asked = filter (n: isString n && n != "") (split "[[:space:]]+" names);
  unknown = filter (n: !(pkgs ? ${n})) asked;
  # Every set has bash-static as bin/sh and bin/bash: the worker runs
  # commands with shell syntax through <set>/bin/sh.
  wanted = builtins.attrNames (builtins.listToAttrs
    (map (n: { name = n; value = true; }) (asked ++ [ "bash" ])));
  # Lower priority first, so that e.g. bash's `sh` replaces busybox's applet.
  ordered = sort (a: b:
    let pa = pkgs.${a}.farmPriority; pb = pkgs.${b}.farmPriority;
    in if pa == pb then lessThan a b else lessThan pa pb) wanted;
  chosen = map (n: pkgs.${n}) ordered;
in
if asked == [ ] then throw "depset: no package names given"
else if !(set.manifests ? glibc) then
  throw "depset: the package set ${gen} has no glibc (Debian libc6 was not installed when it was generated, e.g. while apt was upgrading it); every package needs it"
else if unknown != [ ] then
  throw "depset: unknown package(s): ${concatStringsSep " " unknown}; known: ${concatStringsSep " " (attrNames pkgs)}"
else
  derivation {
    name = "nixfarm-depset";
    system = "x86_64-linux";
    builder = set.busybox;
    args = [ "sh" "-e" ./lib/depset-builder.sh ];
    # "<store path> <bin>..." per package, in link order.
    links = concatStringsSep "\n" (map (p: "${p} ${concatStringsSep " " p.farmBins}") chosen);
    exportReferencesGraph = builtins.concatLists
      (genList (i: [ "graph${toString i}" (elemAt chosen i) ]) (length chosen));
    graphs = genList (i: "graph${toString i}") (length chosen);
  }
