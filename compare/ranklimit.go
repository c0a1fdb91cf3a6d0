package compare

import (
	"github.com/lwca/lwca/rundir"
	"math"
	"strconv"
	"strings"

	"github.com/lwca/lwca/analysis"
)

// eps is ε = 2⁻⁵² of numerical_rank's tolerance d·ε·λ1.
const eps = 0x1p-52

// kappaIndex returns k, the 1-based index of the eigenvalue that the κ record key divides
// by in a factor of dimension d: ⌈p·d⌉ for "kappa_p<p>", d for "kappa"; 0 for other keys.
func kappaIndex(key string, d int) int {
	if key == "kappa" {
		return d
	}
	s, ok := strings.CutPrefix(key, "kappa_p")
	if !ok {
		return 0
	}
	p, err := strconv.ParseFloat(s, 64)
	if err != nil || !(p > 0 && p <= 1) || d < 1 {
		return 0
	}
	return analysis.PIndex(p, d)
}

// RankLimited reports whether rec's value of the κ key (kappa or kappa_p<p>) is a quotient
// by round-off rather than a condition number: λ_k, the eigenvalue it divides by, is not
// above the numerical-rank tolerance d·ε·λ1. That is the case when numerical_rank < k, when
// κ ≥ 1/(d·ε) (the same bound, for records without numerical_rank), and when κ is +Inf
// (λ_k = 0 exactly). Other keys are never rank-limited.
func RankLimited(rec *rundir.ConditioningRecord, key string) bool {
	if rec == nil {
		return false
	}
	if key != "kappa" && !strings.HasPrefix(key, "kappa_p") {
		return false
	}
	v := rec.Value(key)
	d := 0
	if dim := rec.Value("dim"); dim >= 1 { // false for NaN: a record without dim
		d = int(dim)
	}
	if math.IsInf(v, 1) {
		return true
	}
	if d > 0 && v >= 1/(float64(d)*eps) {
		return true
	}
	if r, ok := rec.Values["numerical_rank"]; ok && d > 0 && r < float64(kappaIndex(key, d)) {
		return true
	}
	return false
}

// valueOf returns rec's value of key and whether it is rank-limited; NaN when rec is nil or
// the value is rank-limited.
func valueOf(rec *rundir.ConditioningRecord, key string) (float64, bool) {
	if rec == nil {
		return math.NaN(), false
	}
	if RankLimited(rec, key) {
		return math.NaN(), true
	}
	return rec.Value(key), false
}
