# The assistant's runtime: which model, where it runs (CPU, CUDA, Vulkan), and the
# addresses beyond loopback it may reach (an OpenAI-compatible server on the LAN).
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib) mkOption types;
  cfg = config.services.tidings;
  gpu = cfg.gpu != "none";
in
{
  options.services.tidings.ai = {
    model = mkOption {
      type = types.nullOr types.str;
      default = "${pkgs.tidings-model-gemma3-270m}";
      defaultText = lib.literalExpression ''"''${pkgs.tidings-model-gemma3-270m}"'';
      example = "/var/lib/models/Qwen2.5-7B-Instruct-Q4_K_M.gguf";
      description = ''
        GGUF file the `llama` backend loads. The default is Gemma 3 270M (Q4_K_M),
        a fixed-output derivation pinned by its sha256; `null` leaves
        `settings.ai.model_path` to you.
      '';
    };
    allowedAddresses = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "192.168.1.20" ];
      description = ''
        Addresses (systemd `IPAddressAllow=` syntax) the assistant may connect to
        besides localhost — an OpenAI-compatible endpoint on the LAN.
      '';
    };
  };

  config = lib.mkIf (cfg.enable && cfg.ai.enable) (
    lib.mkMerge [
      {
        services.tidings.settings.ai.model_path = lib.mkIf (cfg.ai.model != null) (
          lib.mkDefault cfg.ai.model
        );
        systemd.services.tidings-ai.serviceConfig = lib.mkIf (cfg.ai.allowedAddresses != [ ]) {
          IPAddressAllow = cfg.ai.allowedAddresses;
        };
      }
      (lib.mkIf gpu {
        services.tidings.package = lib.mkDefault (
          pkgs.tidings.override {
            cudaSupport = cfg.gpu == "cuda";
            vulkanSupport = cfg.gpu == "vulkan";
          }
        );
        services.tidings.settings.ai.n_gpu_layers = lib.mkDefault (-1);
        hardware.graphics.enable = true;
      })
      (lib.mkIf (cfg.gpu == "cuda") {
        # The NVIDIA kernel module is loaded when "nvidia" is a video driver, even
        # on a headless box; the open kernel module is right for Turing and newer.
        services.xserver.videoDrivers = [ "nvidia" ];
        hardware.nvidia.open = lib.mkDefault true;
      })
    ]
  );
}
