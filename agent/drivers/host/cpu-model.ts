/**
 * Best-effort libvirt/QEMU CPU model names and feature names for the host CPU (pure).
 *
 * libvirt decides the host model by comparing CPUID data with its cpu_map; virtbus has no
 * cpu_map, so the model comes from the CPUID signature (vendor, family, model, stepping):
 * a table of well-known microarchitectures → the QEMU model of that generation. An
 * unrecognised CPU gets no model (the XML then omits <model>), never a guess.
 *
 * Features are /proc/cpuinfo flags with the straightforward renames to libvirt's names
 * (sse4_1 → sse4.1, pclmulqdq → pclmuldq, tsc_deadline_timer → tsc-deadline, ...) and
 * without the kernel's synthetic flags that no CPUID bit backs (constant_tsc, rep_good, ...).
 */
import type { CpuInfo } from "./cpuinfo.js";

type ModelRule = readonly [models: readonly number[], name: string];

/** Intel family 6 model numbers (Intel SDM vol. 4 / kernel intel-family.h) → QEMU models. */
const INTEL_FAMILY6: readonly ModelRule[] = [
  [[0x0f, 0x16], "Conroe"],
  [[0x17, 0x1d], "Penryn"],
  [[0x1a, 0x1e, 0x1f, 0x2e], "Nehalem"],
  [[0x25, 0x2c, 0x2f], "Westmere"],
  [[0x2a, 0x2d], "SandyBridge"],
  [[0x3a, 0x3e], "IvyBridge"],
  [[0x3c, 0x3f, 0x45, 0x46], "Haswell"],
  [[0x3d, 0x47, 0x4f, 0x56], "Broadwell"],
  [[0x4e, 0x5e, 0x8e, 0x9e, 0xa5, 0xa6], "Skylake-Client"],
  [[0x6a, 0x6c], "Icelake-Server"],
  [[0x86], "Snowridge"],
  [[0x8f], "SapphireRapids"],
];

function intelModel(model: number, stepping: number): string | undefined {
  // One model number covers three server generations; the stepping tells them apart.
  if (model === 0x55) return stepping >= 10 ? "Cooperlake" : stepping >= 5 ? "Cascadelake-Server" : "Skylake-Server";
  return INTEL_FAMILY6.find(([models]) => models.includes(model))?.[1];
}

function amdModel(family: number, model: number): string | undefined {
  if (family === 0x10) return "Opteron_G3";
  if (family === 0x15) return model < 0x10 ? "Opteron_G4" : "Opteron_G5";
  // Zen 2 parts are family 0x17 models 0x30-0x3f and 0x60-0x7f; the rest are Zen/Zen+.
  if (family === 0x17) return (model >= 0x30 && model <= 0x3f) || (model >= 0x60 && model <= 0x7f) ? "EPYC-Rome" : "EPYC";
  // Zen 4 is family 0x19 models 0x10-0x1f, 0x60-0x7f and 0xa0-0xaf; the rest are Zen 3.
  if (family === 0x19) return (model >= 0x10 && model <= 0x1f) || (model >= 0x60 && model <= 0x7f) || (model >= 0xa0 && model <= 0xaf) ? "EPYC-Genoa" : "EPYC-Milan";
  return undefined;
}

/** The model name for a CPUID signature, or undefined when it is not in the table. */
export function cpuModelName(info: CpuInfo): string | undefined {
  const { vendorId, family, model, stepping } = info;
  if (family === undefined || model === undefined) return undefined;
  if (vendorId === "GenuineIntel" && family === 6) return intelModel(model, stepping ?? 0);
  if (vendorId === "AuthenticAMD") return amdModel(family, model);
  if (vendorId === "HygonGenuine" && family === 0x18) return "Dhyana";
  return undefined;
}

/** Linux flag → libvirt feature name where the two spell it differently. */
const RENAMES: Readonly<Record<string, string>> = {
  sse4_1: "sse4.1",
  sse4_2: "sse4.2",
  pclmulqdq: "pclmuldq",
  tsc_deadline_timer: "tsc-deadline",
  cr8_legacy: "cr8legacy",
  avx512_vnni: "avx512-vnni",
  avx512_bf16: "avx512-bf16",
  avx512_fp16: "avx512-fp16",
  avx512_vpopcntdq: "avx512-vpopcntdq",
  avx512_4vnniw: "avx512-4vnniw",
  avx512_4fmaps: "avx512-4fmaps",
  avx512_bitalg: "avx512bitalg",
  avx512_vbmi2: "avx512vbmi2",
  avx_vnni: "avx-vnni",
  amd_ssbd: "amd-ssbd",
  virt_ssbd: "virt-ssbd",
  amd_stibp: "amd-stibp",
  md_clear: "md-clear",
  spec_ctrl: "spec-ctrl",
  arch_capabilities: "arch-capabilities",
  flush_l1d: "flush-l1d",
  core_capabilities: "core-capability",
  split_lock_detect: "split-lock-detect",
  sha_ni: "sha-ni",
  dts: "ds",
  intel_pt: "intel-pt",
};

/** Kernel-synthesised or host-only flags with no libvirt feature (arch/x86 cpufeatures.h "synthetic"). */
const SYNTHETIC = new Set([
  "constant_tsc", "rep_good", "nopl", "xtopology", "nonstop_tsc", "nonstop_tsc_s3", "cpuid", "extd_apicid",
  "tsc_known_freq", "aperfmperf", "arch_perfmon", "bts", "pti", "vmmcall", "cpuid_fault", "epb", "cat_l3",
  "cdp_l3", "invpcid_single", "hw_pstate", "proc_feedback", "sme", "sev", "sev_es", "ibrs_enhanced",
  "tpr_shadow", "vnmi", "flexpriority", "ept", "vpid", "ept_ad", "dtherm", "ida", "pln", "pts", "hwp",
  "hwp_notify", "hwp_act_window", "hwp_epp", "hwp_pkg_req", "ring3mwait", "user_shstk", "decodeassists",
  "pausefilter", "pfthreshold", "v_vmsave_vmload", "vgif", "v_spec_ctrl", "lbrv", "svm_lock", "nrip_save",
  "tsc_scale", "vmcb_clean", "flushbyasid", "avic", "cqm", "cqm_llc", "cqm_occup_llc", "cqm_mbm_total",
  "cqm_mbm_local", "mba", "rdt_a", "zero_fcs_fds", "overflow_recov", "succor", "smca", "fpu_exception",
  "tsc_reliable", "amd_lbr_v2", "perfmon_v2", "pebs", "art", "rapl", "cpb", "amd_ppin",
]);

/** libvirt feature names for the cpuinfo flags, sorted and unique. */
export function cpuFeatures(flags: readonly string[]): string[] {
  const out = new Set<string>();
  for (const f of flags) {
    if (SYNTHETIC.has(f) || !/^[a-z0-9_.]+$/.test(f)) continue;
    out.add(RENAMES[f] ?? f);
  }
  return [...out].sort();
}
