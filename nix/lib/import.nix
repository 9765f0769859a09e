# Import one manifest's Debian files (host paths under /usr) into the store.
# Why a filter over /: the tree keeps Debian's layout (usr/bin, usr/lib...), so
# programs that find their data relative to their binary (python's prefix,
# gcc's libexec) still do. With the NAR hash pinned, Nix reuses a valid store
# path without reading the host files again, and on a store without it a
# changed host file fails with a hash mismatch (run nix/regen).
{ manifest, pinned ? true }:
let
  wanted = builtins.listToAttrs (map (p: { name = p; value = true; }) manifest.paths);
in
builtins.path ({
  path = /.;
  name = manifest.store_name + "-src";
  # Nix hands the filter "//usr/..." when importing from the root.
  filter = p: _type: wanted ? ${builtins.substring 1 (-1) p};
} // (if pinned then { sha256 = manifest.nar_sha256; } else { }))
