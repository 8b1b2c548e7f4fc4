package seal_test

import (
	"testing"

	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/fragment/seal/sealtest"
)

func TestMemKeyStoreContract(t *testing.T) {
	sealtest.TestKeyStoreContract(t, func(t *testing.T) seal.KeyStore { return &seal.MemKeyStore{} })
}
