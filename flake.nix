{
  description = "tidings: mail, chat, calendars and contacts you talk to, as a NixOS appliance";

  # One NixOS release; flake.lock pins the exact revision (`nix flake update` moves it).
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  outputs =
    { self, nixpkgs }:
    let
      system = "x86_64-linux";
      inherit (nixpkgs) lib;

      # The bundled model is distributed under Google's Gemma Terms of Use (see
      # README.md, Licence): accepted here for that one package, nothing else unfree.
      nixpkgsConfig.allowUnfreePredicate = pkg: lib.getName pkg == "gemma-3-270m-q4_k_m.gguf";

      pkgs = import nixpkgs {
        inherit system;
        overlays = [ self.overlays.default ];
        config = nixpkgsConfig;
      };

      appliance =
        variant:
        lib.nixosSystem {
          inherit system;
          modules = [
            self.nixosModules.default
            ./images/${variant}.nix
            {
              nixpkgs.overlays = [ self.overlays.default ];
              nixpkgs.config = nixpkgsConfig;
            }
          ];
        };
    in
    {
      overlays.default = import ./pkgs;

      nixosModules = {
        tidings = import ./modules;
        default = self.nixosModules.tidings;
      };

      nixosConfigurations = {
        minipc = appliance "minipc";
        vm = appliance "vm";
      };

      packages.${system} = {
        default = pkgs.tidings;
        tidings = pkgs.tidings;
        model = pkgs.tidings-model-gemma3-270m;
        # Raw GPT disk for a mini-PC (dd to its disk or a USB stick).
        image-minipc = self.nixosConfigurations.minipc.config.system.build.image;
        # qcow2 with UEFI for a VM.
        image-vm = self.nixosConfigurations.vm.config.system.build.images.qemu-efi;
      };

      # The NixOS VM tests (vm-tests/), each a runNixOSTest with real clients.
      checks.${system} = import ./vm-tests { inherit pkgs self; };

      devShells.${system}.default = pkgs.mkShell {
        inputsFrom = [ pkgs.tidings ];
        packages = with pkgs; [
          nixfmt-tree
          python3Packages.pytest
          python3Packages.pytest-testinfra
          swaks
        ];
      };

      formatter.${system} = pkgs.nixfmt-tree;
    };
}
