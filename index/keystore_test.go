package index

import (
	"testing"

	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/fragment/seal/sealtest"
)

func TestKeyStoreContract(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			sealtest.TestKeyStoreContract(t, func(t *testing.T) seal.KeyStore {
				return openT(t, m.opts(t)).Keys()
			})
		})
	}
}
