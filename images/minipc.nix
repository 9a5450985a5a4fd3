# The mini-PC image: a raw GPT disk image built by systemd-repart (image.repart),
# booted by systemd-boot on UEFI, with A/B updates by systemd-sysupdate.
#
#   ESP        systemd-boot, one boot entry per installed version
#   root A     tidings_<version>: this version's Nix store and system (ext4)
#   root B     created empty on first boot, where the next version is written
#   data       /var, created on first boot to fill the disk: everything that
#              must survive an update (tidings' data, ACME account, backups)
#
# An update writes the new root into the inactive slot and a boot entry for it;
# the old slot stays bootable until the next update, so rolling back is choosing
# the previous entry in the boot menu (or `bootctl set-default`).
{
  config,
  lib,
  pkgs,
  modulesPath,
  ...
}:
let
  version = config.system.image.version;
  rootLabel = "tidings_${version}";
  efiArch = pkgs.stdenv.hostPlatform.efiArch;
  entry = "/loader/entries/tidings_${version}.conf";
  kernel = "/EFI/tidings/kernel_${version}.efi";
  initrd = "/EFI/tidings/initrd_${version}.efi";
  slotSize = "8G";
in
{
  imports = [
    "${modulesPath}/image/repart.nix"
    ./common.nix
  ];

  options.tidings.image.updateUrl = lib.mkOption {
    type = lib.types.str;
    default = "https://updates.tidings.invalid/minipc/";
    description = ''
      Where systemd-sysupdate looks for newer images: a directory holding
      `tidings_<version>.root.raw.xz`, `tidings_<version>.efi` and a SHA256SUMS file.
    '';
  };

  config = {
    system.image.id = "tidings";
    system.image.version = lib.mkDefault (lib.importTOML ../pyproject.toml).project.version;

    boot.loader.grub.enable = false;
    boot.initrd.systemd.enable = true;
    hardware.enableRedistributableFirmware = true;
    boot.initrd.availableKernelModules = [ "nvme" "xhci_pci" "ahci" "usbhid" "usb_storage" "sd_mod" ];

    fileSystems."/" = {
      device = "/dev/disk/by-partlabel/${rootLabel}";
      fsType = "ext4";
    };
    fileSystems."/boot" = {
      device = "/dev/disk/by-partlabel/esp";
      fsType = "vfat";
    };
    fileSystems."/var" = {
      device = "/dev/disk/by-partlabel/data";
      fsType = "ext4";
    };

    # First boot, in the initrd: add the empty B slot and the data partition
    # (growing to the end of the disk) before anything mounts /var.
    boot.initrd.systemd.repart.enable = true;
    systemd.repart.partitions = {
      "30-root-b" = {
        Type = "root";
        Label = "_empty";
        SizeMinBytes = slotSize;
        SizeMaxBytes = slotSize;
      };
      "40-data" = {
        Type = "var";
        Label = "data";
        Format = "ext4";
        SizeMinBytes = "8G";
      };
    };

    image.repart = {
      name = "tidings-minipc";
      partitions = {
        "10-esp" = {
          contents = {
            "/EFI/BOOT/BOOT${lib.toUpper efiArch}.EFI".source =
              "${pkgs.systemd}/lib/systemd/boot/efi/systemd-boot${efiArch}.efi";
            "${entry}".source = pkgs.writeText "tidings_${version}.conf" ''
              title tidings ${version}
              version ${version}
              linux ${kernel}
              initrd ${initrd}
              options init=${config.system.build.toplevel}/init ${toString config.boot.kernelParams}
            '';
            "${kernel}".source = "${config.boot.kernelPackages.kernel}/${config.system.boot.loader.kernelFile}";
            "${initrd}".source = "${config.system.build.initialRamdisk}/${config.system.boot.loader.initrdFile}";
          };
          repartConfig = {
            Type = "esp";
            Format = "vfat";
            Label = "esp";
            SizeMinBytes = "512M";
          };
        };
        "20-root-a" = {
          storePaths = [ config.system.build.toplevel ];
          repartConfig = {
            Type = "root";
            Format = "ext4";
            Label = rootLabel;
            SizeMinBytes = slotSize;
            SizeMaxBytes = slotSize;
            SplitName = "root";
          };
        };
      };
      split = true; # also emits the root partition alone, the update payload
    };

    systemd.sysupdate = {
      enable = true;
      reboot.enable = false; # the operator chooses when (docs/install.md)
      transfers = {
        "10-root" = {
          Source = {
            Type = "url-file";
            Path = config.tidings.image.updateUrl;
            MatchPattern = "tidings_@v.root.raw.xz";
          };
          Target = {
            Type = "partition";
            Path = "auto";
            MatchPattern = "tidings_@v";
            MatchPartitionType = "root";
            InstancesMax = 2;
          };
          Transfer.ProtectVersion = "%A";
        };
        "20-kernel" = {
          Source = {
            Type = "url-file";
            Path = config.tidings.image.updateUrl;
            MatchPattern = "tidings_@v.kernel.efi";
          };
          Target = {
            Type = "regular-file";
            Path = "/EFI/tidings";
            PathRelativeTo = "boot";
            MatchPattern = "kernel_@v.efi";
            Mode = "0444";
            InstancesMax = 2;
          };
          Transfer.ProtectVersion = "%A";
        };
        "30-initrd" = {
          Source = {
            Type = "url-file";
            Path = config.tidings.image.updateUrl;
            MatchPattern = "tidings_@v.initrd.efi";
          };
          Target = {
            Type = "regular-file";
            Path = "/EFI/tidings";
            PathRelativeTo = "boot";
            MatchPattern = "initrd_@v.efi";
            Mode = "0444";
            InstancesMax = 2;
          };
          Transfer.ProtectVersion = "%A";
        };
        "40-entry" = {
          Source = {
            Type = "url-file";
            Path = config.tidings.image.updateUrl;
            MatchPattern = "tidings_@v.conf";
          };
          Target = {
            Type = "regular-file";
            Path = "/loader/entries";
            PathRelativeTo = "boot";
            MatchPattern = "tidings_@v.conf";
            Mode = "0444";
            InstancesMax = 2;
          };
          Transfer.ProtectVersion = "%A";
        };
      };
    };
  };
}
