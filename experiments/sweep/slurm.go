package sweep

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/lwca/lwca/results"
)

// SlurmOptions configure the job-array script.
type SlurmOptions struct {
	// Parallel, if > 0, caps the array tasks Slurm runs at once (--array=0-N%Parallel).
	Parallel int
	// Binary is the lwca command the tasks run; default "lwca". The LWCA environment variable
	// overrides it when the job runs.
	Binary string
}

// WriteSlurm prepares dir as Execute does (manifest.json and configs/) and writes
// dir/sweep.slurm, a Slurm job array with one task per run: task i runs
//
//	lwca run <dir>/configs/<run i>.yaml --out <dir>/<run i> --overwrite
//
// unless that directory already holds a completed or diverged run. Paths are absolute, so
// the job may be submitted from anywhere; task logs go to dir/logs. Every run must have a
// valid config. It returns the script's path.
func (s *Sweep) WriteSlurm(dir string, opts SlurmOptions) (string, error) {
	var bad []string
	for _, r := range s.Runs {
		if r.Err != nil {
			bad = append(bad, fmt.Sprintf("run %s: %v", r.Name, r.Err))
		}
	}
	if len(bad) > 0 {
		return "", fmt.Errorf("sweep: %d of %d runs have invalid configs:\n%s", len(bad), len(s.Runs), strings.Join(bad, "\n"))
	}
	if len(s.Runs) == 0 {
		return "", errors.New("sweep: no runs")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("sweep: %w", err)
	}
	if err := s.Prepare(abs); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Join(abs, "logs"), 0o755); err != nil { // Slurm does not create it
		return "", fmt.Errorf("sweep: %w", err)
	}
	bin := opts.Binary
	if bin == "" {
		bin = "lwca"
	}
	array := fmt.Sprintf("0-%d", len(s.Runs)-1)
	if opts.Parallel > 0 {
		array += fmt.Sprintf("%%%d", opts.Parallel)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "#!/bin/bash\n")
	fmt.Fprintf(&b, "# Slurm job array for the sweep %s: %d runs, one per task.\n", s.Name, len(s.Runs))
	fmt.Fprintf(&b, "# Submit with: sbatch %s\n", shellQuote(filepath.Join(abs, SlurmFile)))
	fmt.Fprintf(&b, "# Add the --time, --mem, --partition … lines your cluster needs. Then: lwca compare %s\n", shellQuote(abs))
	fmt.Fprintf(&b, "#SBATCH --job-name=%s\n", slurmWord(s.Name))
	fmt.Fprintf(&b, "#SBATCH --array=%s\n", array)
	fmt.Fprintf(&b, "#SBATCH --output=%s\n", filepath.Join(abs, "logs", "%a.out"))
	fmt.Fprintf(&b, "set -euo pipefail\n\nconfigs=(\n")
	for _, r := range s.Runs {
		fmt.Fprintf(&b, "  %s\n", shellQuote(filepath.Join(abs, ConfigsDir, r.Name+".yaml")))
	}
	fmt.Fprintf(&b, ")\ndirs=(\n")
	for _, r := range s.Runs {
		fmt.Fprintf(&b, "  %s\n", shellQuote(filepath.Join(abs, r.Name)))
	}
	fmt.Fprintf(&b, ")\n\ni=${SLURM_ARRAY_TASK_ID:?run this script with sbatch, or set SLURM_ARRAY_TASK_ID}\n")
	fmt.Fprintf(&b, "# A finished run (completed or diverged) is not repeated when the array is resubmitted.\n")
	fmt.Fprintf(&b, "if grep -Eqs '\"status\": \"(completed|diverged)\"' \"${dirs[$i]}/summary.json\"; then\n")
	fmt.Fprintf(&b, "  echo \"${dirs[$i]}: already finished\"\n  exit 0\nfi\n")
	fmt.Fprintf(&b, "exec \"${LWCA:-%s}\" run \"${configs[$i]}\" --out \"${dirs[$i]}\" --overwrite\n", strings.ReplaceAll(bin, `"`, `\"`))
	path := filepath.Join(abs, SlurmFile)
	if err := results.WriteFile(path, []byte(b.String())); err != nil {
		return "", err
	}
	if err := os.Chmod(path, 0o755); err != nil {
		return "", fmt.Errorf("sweep: %w", err)
	}
	return path, nil
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// slurmWord makes s usable as an unquoted #SBATCH value.
func slurmWord(s string) string {
	return strings.Trim(unsafeChars.ReplaceAllString(s, "_"), "_")
}
