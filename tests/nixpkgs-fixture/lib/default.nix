# The few functions of nixpkgs' lib this tree uses.
{
  # callPackage: a function (or the file holding one) called with the
  # arguments it names, taken from autoArgs unless args gives them.
  callPackageWith = autoArgs: fn: args:
    let f = if builtins.isFunction fn then fn else import fn;
    in f (builtins.intersectAttrs (builtins.functionArgs f) autoArgs // args);

  recurseIntoAttrs = set: set // { recurseForDerivations = true; };
}
