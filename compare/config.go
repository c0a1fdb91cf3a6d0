package compare

import (
	"slices"
	"strings"
)

// ConfigDiff lists the dotted keys whose values are not the same in every run, sorted, leaving
// out the keys in ignore. A key missing from a run's config counts as a difference. Runs
// without a config are not considered.
func ConfigDiff(runs []*Run, ignore ...string) []string {
	var withCfg []*Run
	keys := map[string]bool{}
	for _, r := range runs {
		if r.Config == nil {
			continue
		}
		withCfg = append(withCfg, r)
		for k := range r.Config {
			keys[k] = true
		}
	}
	var out []string
	for k := range keys {
		if slices.Contains(ignore, k) {
			continue
		}
		first, ok0 := withCfg[0].Config[k]
		for _, r := range withCfg[1:] {
			if v, ok := r.Config[k]; ok != ok0 || v != first {
				out = append(out, k)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

// SharedConfig returns the keys (sorted) and values that every run with a config has in
// common, leaving out ignore.
func SharedConfig(runs []*Run, ignore ...string) (keys []string, values map[string]string) {
	diff := ConfigDiff(runs, ignore...)
	values = map[string]string{}
	for _, r := range runs {
		if r.Config == nil {
			continue
		}
		for k, v := range r.Config {
			if !slices.Contains(diff, k) && !slices.Contains(ignore, k) {
				values[k] = v
			}
		}
		break
	}
	for k := range values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys, values
}

// shortKeys maps each dotted key to its last element, or to the full key where two keys
// share a last element.
func shortKeys(keys []string) map[string]string {
	last := func(k string) string { return k[strings.LastIndexByte(k, '.')+1:] }
	count := map[string]int{}
	for _, k := range keys {
		count[last(k)]++
	}
	out := map[string]string{}
	for _, k := range keys {
		if count[last(k)] > 1 {
			out[k] = k
		} else {
			out[k] = last(k)
		}
	}
	return out
}
