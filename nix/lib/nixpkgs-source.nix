# The nixpkgs tree of one configured package set (builder/pkgsources.c):
# `source` is JSON text, {"path": "/abs/dir"} (a checkout or channel) or
# {"url": "...", "sha256": "..."} (a tarball locked by its hash, fetched once
# into the store). Passed only with --argstr, never as code.
{ source }:
let s = builtins.fromJSON source;
in
if s ? path then /. + s.path
else if s ? url then builtins.fetchTarball { inherit (s) url sha256; }
else throw "nixfarm: a nixpkgs source needs path or url + sha256, got ${source}"
