package etcd

// WatchRunning reports whether p's prefix watch runs, for the tests.
func WatchRunning(p *Provider) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.watch != nil
}
