/** The version printed by `bramble --version` and reported by the admin actor. */
export const VERSION = "0.1.0"
