# runCommand name env script: a derivation whose builder is the offline
# set's busybox sh (its applets are built in, so PATH stays empty).
{ busybox, system }:
name: env: script:
derivation (builtins.removeAttrs env [ "meta" ] // {
  inherit name system;
  builder = "${busybox}/bin/busybox";
  args = [ "sh" "-ec" script ];
}) // { meta = env.meta or { }; }
