//go:build !linux

package experiments

// backgroundPriority does nothing where threads have no priority of their own to lower.
func backgroundPriority() {}
