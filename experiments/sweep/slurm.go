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
	// Sbatch are further sbatch options, such as "--partition=gpu" or "--time=2:00:00",
	// written as #SBATCH lines.
	Sbatch []string
	// RunFlags are flags every task's lwca run takes, such as "--backend=gonum".
	RunFlags []string
}

// WriteSlurm prepares dir as Execute does (manifest.json and configs/) and writes
// dir/sweep.slurm, a Slurm job array with one task per run: task i runs
//
//	lwca run <dir>/configs/<run i>.yaml --out <dir>/<run i> --overwrite
//
// unless that directory already holds a completed or diverged run, or holds an unfinished run
// of the same config, which it continues from its checkpoint (lwca run --resume <dir>/<run i>):
// a task that Slurm stopped (scancel, a time limit, a requeue) goes on where it was when it
// runs again. Paths are absolute, so the job may be submitted from anywhere; task i appends
// its output to dir/logs/i.out. Every run must have a valid config. It returns the script's
// path.
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
	if err := os.MkdirAll(filepath.Join(abs, LogsDir), 0o755); err != nil { // Slurm does not create it
		return "", fmt.Errorf("sweep: %w", err)
	}
	for _, a := range opts.Sbatch {
		if err := CheckSbatchOption(a); err != nil {
			return "", fmt.Errorf("sweep: %w", err)
		}
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
	fmt.Fprintf(&b, "#SBATCH --output=%s\n", filepath.Join(abs, LogsDir, "%a.out"))
	fmt.Fprintf(&b, "#SBATCH --open-mode=append\n") // a requeued task adds to its log
	for _, a := range opts.Sbatch {
		fmt.Fprintf(&b, "#SBATCH %s\n", a)
	}
	fmt.Fprintf(&b, "set -euo pipefail\n\nconfigs=(\n")
	for _, r := range s.Runs {
		fmt.Fprintf(&b, "  %s\n", shellQuote(filepath.Join(abs, ConfigsDir, r.Name+".yaml")))
	}
	fmt.Fprintf(&b, ")\ndirs=(\n")
	for _, r := range s.Runs {
		fmt.Fprintf(&b, "  %s\n", shellQuote(filepath.Join(abs, r.Name)))
	}
	fmt.Fprintf(&b, ")\n\ni=${SLURM_ARRAY_TASK_ID:?run this script with sbatch, or set SLURM_ARRAY_TASK_ID}\n")
	fmt.Fprintf(&b, "lwca=${LWCA:-%s}\n", shellQuote(bin))
	flags := ""
	for _, f := range opts.RunFlags {
		flags += " " + shellQuote(f)
	}
	fmt.Fprintf(&b, "# A finished run (completed or diverged) is not repeated when the array is resubmitted.\n")
	fmt.Fprintf(&b, "if grep -Eqs '\"status\": \"(completed|diverged)\"' \"${dirs[$i]}/summary.json\"; then\n")
	fmt.Fprintf(&b, "  echo \"${dirs[$i]}: already finished\"\n  exit 0\nfi\n")
	fmt.Fprintf(&b, "# An unfinished run of the same config (stopped by scancel, a time limit or a requeue:\n")
	fmt.Fprintf(&b, "# Slurm's SIGTERM makes lwca write a checkpoint) continues where it was.\n")
	fmt.Fprintf(&b, "if cmp -s \"${configs[$i]}\" \"${dirs[$i]}/config.yaml\"; then\n")
	fmt.Fprintf(&b, "  exec \"$lwca\" run --resume \"${dirs[$i]}\"%s\nfi\n", flags)
	fmt.Fprintf(&b, "exec \"$lwca\" run \"${configs[$i]}\" --out \"${dirs[$i]}\" --overwrite%s\n", flags)
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

// CheckSbatchOption accepts one sbatch option as the job script's #SBATCH lines take it: a
// single word that starts with "-".
func CheckSbatchOption(a string) error {
	if !strings.HasPrefix(a, "-") || strings.ContainsAny(a, " \t\r\n") {
		return fmt.Errorf("sbatch option %q: expected one option without spaces, such as --time=2:00:00", a)
	}
	return nil
}
