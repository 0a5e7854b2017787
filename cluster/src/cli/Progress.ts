/**
 * A one-line progress bar on stderr for long operations (only when stderr is a terminal;
 * scripts get a final line instead of carriage-return noise).
 */
export const progressBar = (label: string) => {
  const tty = process.stderr.isTTY === true
  let last = 0
  return {
    update: (stage: string, done: number, total: number) => {
      const now = Date.now()
      // Throttled, except the last step: the bar must not stop short of 100%.
      if (!tty || (now - last < 100 && done < total)) return
      last = now
      const width = 30
      const fraction = total > 0 ? Math.min(1, done / total) : 1
      const filled = Math.round(fraction * width)
      process.stderr.write(`\r${label} ${stage} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% ${done}/${total}   `)
    },
    done: () => {
      if (tty) process.stderr.write("\n")
    }
  }
}
