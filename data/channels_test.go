package data

import (
	"math"
	"runtime"
	"slices"
	"testing"
)

// bruteChannelStats uses the one-pass formula E[x²]−E[x]² in float64
// and the index arithmetic of the HWC layout, independently of
// ChannelStats.
func bruteChannelStats(s *Set) (mean, std []float64) {
	h, w, c := s.Shape[0], s.Shape[1], s.Shape[2]
	sum := make([]float64, c)
	sq := make([]float64, c)
	for i := range s.N {
		for y := range h {
			for x := range w {
				for k := range c {
					v := float64(s.X[i*h*w*c+(y*w+x)*c+k])
					sum[k] += v
					sq[k] += v * v
				}
			}
		}
	}
	n := float64(s.N * h * w)
	for k := range c {
		m := sum[k] / n
		mean = append(mean, m)
		std = append(std, math.Sqrt(sq[k]/n-m*m))
	}
	return mean, std
}

func TestChannelStats(t *testing.T) {
	for _, shape := range [][]int{{4, 5, 3}, {3, 2, 1}, {8, 8, 3}, {2, 3, 4}} {
		// 700 samples of 8×8 make 44800 pixels, several partial-sum runs.
		s := randomSet(700, shape, 3, 4)
		// Give every channel its own offset and scale.
		c := shape[2]
		for p := range len(s.X) / c {
			for k := range c {
				s.X[p*c+k] = s.X[p*c+k]*float32(k+1) + float32(10*k)
			}
		}
		mean, std := ChannelStats(s)
		wm, ws := bruteChannelStats(s)
		if len(mean) != c || len(std) != c {
			t.Fatalf("shape %v: %d means, %d stds, want %d", shape, len(mean), len(std), c)
		}
		for k := range c {
			if math.Abs(float64(mean[k])-wm[k]) > 1e-5*math.Abs(wm[k])+1e-6 || math.Abs(float64(std[k])-ws[k]) > 1e-5*ws[k] {
				t.Errorf("shape %v channel %d: %v, %v, want %v, %v", shape, k, mean[k], std[k], wm[k], ws[k])
			}
		}

		// Independent of the number of goroutines, bit for bit.
		prev := runtime.GOMAXPROCS(1)
		m1, s1 := ChannelStats(s)
		runtime.GOMAXPROCS(prev)
		if !slices.Equal(m1, mean) || !slices.Equal(s1, std) {
			t.Errorf("shape %v: GOMAXPROCS=1 gives %v, %v, not %v, %v", shape, m1, s1, mean, std)
		}

		orig := slices.Clone(s.X)
		s.NormalizeChannels(mean, std)
		for i, v := range orig {
			k := i % c
			if want := (v - mean[k]) / std[k]; math.Abs(float64(s.X[i]-want)) > 1e-5 {
				t.Fatalf("shape %v: element %d: %v, want %v", shape, i, s.X[i], want)
			}
		}
		nm, ns := bruteChannelStats(s)
		for k := range c {
			if math.Abs(nm[k]) > 1e-5 || math.Abs(ns[k]-1) > 1e-5 {
				t.Errorf("shape %v channel %d after NormalizeChannels: %v, %v, want 0, 1", shape, k, nm[k], ns[k])
			}
		}
	}
	empty := randomSet(0, []int{2, 2, 3}, 2, 1)
	if m, s := ChannelStats(empty); len(m) != 3 || len(s) != 3 || m[0] != 0 || s[0] != 0 {
		t.Errorf("empty set: %v, %v, want three zeros each", m, s)
	}
}

func TestNormalizeChannelsPanics(t *testing.T) {
	s := randomSet(2, []int{2, 2, 3}, 2, 1)
	for _, c := range []struct {
		name      string
		mean, std []float32
	}{
		{"short mean", []float32{0, 0}, []float32{1, 1, 1}},
		{"long std", []float32{0, 0, 0}, []float32{1, 1, 1, 1}},
		{"zero std", []float32{0, 0, 0}, []float32{1, 0, 1}},
		{"NaN std", []float32{0, 0, 0}, []float32{1, 1, float32(math.NaN())}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", c.name)
				}
			}()
			s.NormalizeChannels(c.mean, c.std)
		}()
	}
}

func TestCIFAR10MeanStd(t *testing.T) {
	mean, std := CIFAR10MeanStd()
	want := [][]float64{{125.3, 123.0, 113.9}, {63.0, 62.1, 66.7}}
	for k := range 3 {
		if math.Abs(float64(mean[k])*255-want[0][k]) > 1e-4 || math.Abs(float64(std[k])*255-want[1][k]) > 1e-4 {
			t.Errorf("channel %d: %v, %v (×255: %v, %v), want %v, %v", k, mean[k], std[k], mean[k]*255, std[k]*255, want[0][k], want[1][k])
		}
	}
	mean[0] = -1
	if m, _ := CIFAR10MeanStd(); m[0] == -1 {
		t.Error("CIFAR10MeanStd returns shared slices")
	}
}
