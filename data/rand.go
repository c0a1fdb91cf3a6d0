package data

import (
	"math"
	"math/bits"
	"math/rand/v2"
)

// stream is a PCG generator with the few draws this package needs. The
// draws are written here over Uint64, rather than taken from rand.Rand,
// so that a seed gives the same data and batch order whatever the Go
// release.
type stream struct {
	pcg    rand.PCG
	spare  float64
	spared bool
}

// newStream returns a generator for the sub-stream id of seed.
func newStream(seed, id uint64) *stream {
	s := new(stream)
	s.seed(seed, id)
	return s
}

// seed resets s to the sub-stream id of seed. Both words go through
// splitmix64 so that neighbouring seeds or ids give unrelated streams.
func (s *stream) seed(seed, id uint64) {
	a := splitmix64(seed ^ splitmix64(id+0x632be59bd9b4e019))
	b := splitmix64(a ^ id)
	s.pcg.Seed(a, b)
	s.spared = false
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// intn returns a uniform integer in [0, n) without modulo bias
// (Lemire's multiply-and-reject method). n must be positive.
func (s *stream) intn(n int) int {
	bound := uint64(n)
	hi, lo := bits.Mul64(s.pcg.Uint64(), bound)
	if lo < bound {
		thresh := -bound % bound
		for lo < thresh {
			hi, lo = bits.Mul64(s.pcg.Uint64(), bound)
		}
	}
	return int(hi)
}

// normal returns a standard normal deviate (Box–Muller).
func (s *stream) normal() float64 {
	if s.spared {
		s.spared = false
		return s.spare
	}
	u1 := float64(s.pcg.Uint64()>>11+1) / (1 << 53) // (0, 1]: Log is finite
	u2 := float64(s.pcg.Uint64()>>11) / (1 << 53)
	r := math.Sqrt(-2 * math.Log(u1))
	sin, cos := math.Sincos(2 * math.Pi * u2)
	s.spare, s.spared = r*sin, true
	return r * cos
}

// shuffle applies a Fisher–Yates permutation to p.
func (s *stream) shuffle(p []int32) {
	for i := len(p) - 1; i > 0; i-- {
		j := s.intn(i + 1)
		p[i], p[j] = p[j], p[i]
	}
}
