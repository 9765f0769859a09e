# The offline package set: every manifest in <gen>/manifests (written by
# nix/regen --out <gen> on this machine; farmd keeps it under
# <state_dir>/pkgset/) becomes a derivation built by busybox-static from the
# imported Debian tree. Returns { packages (user-facing attributes), all,
# srcs, busybox }. gen is an absolute directory name, passed by the builder
# with --argstr, never code.
{ gen }:
let
  inherit (builtins) attrNames filter listToAttrs map readDir readFile fromJSON
    substring stringLength concatStringsSep genericClosure removeAttrs;

  dir = if builtins.substring 0 1 gen == "/" then /. + "${gen}/manifests"
    else throw "nixfarm set.nix: gen must be an absolute directory (nix/regen --out DIR), got \"${gen}\"";
  jsonFiles = filter (f: substring (stringLength f - 5) 5 f == ".json")
    (attrNames (readDir dir));
  manifests = listToAttrs (map (f: {
    name = substring 0 (stringLength f - 5) f;
    value = fromJSON (readFile (dir + "/${f}"));
  }) jsonFiles);

  srcs = builtins.mapAttrs (_: m: import ./import.nix { manifest = m; }) manifests;

  # Every package is patched against glibc. A generation without it (Debian
  # libc6 was not installed, e.g. half-way through an apt upgrade) cannot make
  # any package: say so rather than "attribute 'glibc' missing".
  glibcAll = if manifests ? glibc then all.glibc
    else throw "nixfarm set.nix: this package set has no glibc (${gen}/unavailable.json: Debian libc6 was not installed when it was generated, e.g. while apt was upgrading it); every package needs it";

  # A store copy of busybox-static runs every build; its file name must stay
  # "busybox" so that busybox recognises itself.
  busybox = "${srcs.busybox}/usr/bin/busybox";

  depNames = name: filter (n: n != name) (map (x: x.key) (genericClosure {
    startSet = [{ key = name; }];
    operator = x: map (d: { key = d; }) manifests.${x.key}.deps;
  }));

  mkPkg = name: m: derivation {
    name = m.store_name;
    system = "x86_64-linux";
    builder = busybox;
    args = [ "sh" "-e" ./builder.sh ];
    src = srcs.${name};
    glibcSrc = if manifests ? glibc then srcs.glibc else glibcAll;
    patchelfSrc = srcs.patchelf-src;
    glibc = if name == "glibc" then "" else glibcAll;
    deps = map (d: all.${d}) (depNames name);
    elfs = concatStringsSep "\n" m.elfs;
    ldscripts = m.ldscripts;
    symlinks = concatStringsSep "\n" m.symlinks;
    shebangs = concatStringsSep "\n" m.shebangs;
    aliases = map (a: "${a}=${m.aliases.${a}}") (attrNames m.aliases);
    applets = if m.applets then "1" else "";
    script = if m.script == "" then "" else ../scripts + "/${m.script}";
    wrap = concatStringsSep "\n" (m.wrap or [ ]);
    relocate = concatStringsSep "\n" (m.relocate or [ ]);
  } // {
    # Not part of the derivation: read by depset.nix.
    farmBins = m.bins;
    farmPriority = m.priority;
    farmVersion = m.version;
  };

  all = builtins.mapAttrs mkPkg (removeAttrs manifests
    (filter (n: manifests.${n}.raw) (attrNames manifests)));

  packages = listToAttrs (map (n: { name = n; value = all.${n}; })
    (filter (n: manifests.${n}.section == "packages") (attrNames manifests)));
in
{
  inherit packages all srcs busybox manifests;
}
