package base

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

// ErrInvalidAddress is wrapped by the error of a malformed connection string
// (Options.Addr): the registrations fail Build with it.
var ErrInvalidAddress = errors.New("redis: invalid address")

// errBadAddr is the short name the package's own code uses.
var errBadAddr = ErrInvalidAddress

// UniversalOptions turns a connection string into go-redis options:
//
//	"host:port"                      standalone
//	"redis://user:pass@host:port/2"  standalone, with credentials and DB (rediss:// for TLS)
//	"host1:port,host2:port,..."      cluster (several addresses)
//	"master:NAME,host:port,..."      Sentinel: the master's name, then sentinel addresses
//
// URLs and bare addresses may be mixed in a list; credentials, DB and TLS
// come from the first URL. db, when not 0, overrides the URL's DB.
func UniversalOptions(addr string, db int) (*goredis.UniversalOptions, error) {
	parts := strings.Split(addr, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	uo := &goredis.UniversalOptions{}
	if strings.HasPrefix(parts[0], "master:") {
		uo.MasterName = strings.TrimPrefix(parts[0], "master:")
		if uo.MasterName == "" {
			return nil, fmt.Errorf("%w %q: empty master name after \"master:\"", errBadAddr, addr)
		}
		parts = parts[1:]
		if len(parts) == 0 {
			return nil, fmt.Errorf("%w %q: \"master:NAME\" needs at least one sentinel address after it", errBadAddr, addr)
		}
	}
	sawURL := false
	for _, p := range parts {
		if p == "" {
			return nil, fmt.Errorf("%w %q: empty address in the list", errBadAddr, addr)
		}
		if strings.Contains(p, "://") {
			o, err := goredis.ParseURL(p)
			if err != nil {
				return nil, fmt.Errorf("%w %q: %w", errBadAddr, p, err)
			}
			if !sawURL {
				sawURL = true
				uo.Username, uo.Password, uo.DB, uo.TLSConfig = o.Username, o.Password, o.DB, o.TLSConfig
			}
			uo.Addrs = append(uo.Addrs, o.Addr)
			continue
		}
		_, port, err := net.SplitHostPort(p)
		if err != nil {
			return nil, fmt.Errorf("%w %q: want host:port or a redis:// URL: %w", errBadAddr, p, err)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%w %q: port %q is not a number from 1 to 65535", errBadAddr, p, port)
		}
		uo.Addrs = append(uo.Addrs, p)
	}
	if db != 0 {
		uo.DB = db
	}
	if uo.MasterName == "" && len(uo.Addrs) > 1 && uo.DB != 0 {
		return nil, fmt.Errorf("%w %q: a cluster has only DB 0, not %d", errBadAddr, addr, uo.DB)
	}
	return uo, nil
}
