# The VM image: a qcow2 disk with UEFI boot, built by nixpkgs' own image builder
# (`system.build.images.qemu-efi`, nixos/modules/image/images.nix, which makes an
# ESP labelled ESP and an ext4 root labelled nixos). Updated the NixOS way
# (`nixos-rebuild switch --flake .#vm`), not by A/B slots.
{ lib, ... }:
{
  imports = [ ./common.nix ];

  services.qemuGuest.enable = true;

  fileSystems."/" = lib.mkDefault {
    device = "/dev/disk/by-label/nixos";
    fsType = "ext4";
    autoResize = true;
  };
  fileSystems."/boot" = lib.mkDefault {
    device = "/dev/disk/by-label/ESP";
    fsType = "vfat";
  };
  boot.growPartition = true;
  boot.loader.grub = {
    device = "nodev";
    efiSupport = true;
    efiInstallAsRemovable = true;
  };

  image.modules.qemu-efi = {
    virtualisation.diskSize = lib.mkDefault (16 * 1024);
  };
}
