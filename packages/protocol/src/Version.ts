/**
 * The version printed by `bramble --version`, reported by the admin actor (`versions`) and
 * sent by the forwarders in their User-Agent: here, where every package can read it.
 */
export const VERSION = "0.1.0"
