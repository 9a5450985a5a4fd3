# The options of services.tidings as documentation data (name, type, default,
# example, description), the way nixpkgs builds its manual: lib.optionAttrSetToDocList
# over the evaluated modules. tests/nix/optionsdoc.py turns it into
# docs/nixos-options.md.
{ libPath }:
let
  lib = import libPath;
  pkgs = import ./stub-pkgs.nix { inherit lib; };
  evaluated = lib.evalModules {
    modules = [
      ./nixos-stubs.nix
      ../../modules
      { _module.args = { inherit pkgs; }; }
      { services.tidings.domain = "example.org"; }
    ];
  };
  text = value: if value == null then null else value.text or (lib.generators.toPretty { } value);
in
map (option: {
  inherit (option) name description type readOnly;
  default = text (option.default or null);
  example = text (option.example or null);
}) (lib.filter (option: option.visible && !option.internal) (
  lib.optionAttrSetToDocList evaluated.options.services.tidings
))
