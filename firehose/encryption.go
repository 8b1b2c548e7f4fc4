package firehose

import (
	"context"
	"fmt"
)

// Sealer encrypts records at rest in the spool (envelope encryption).
// The appliance's *seal.Keyring implements it. The engine seals with
// alias "firehose/<stream>" and binds each record to "firehose/<stream>"
// and its spool seq, so a record opens only where it was put.
type Sealer interface {
	// Seal encrypts plaintext with the current key of alias, bound to
	// stream and n, and returns the sealed blob (which names its key).
	Seal(ctx context.Context, alias, stream string, n uint64, plaintext []byte) (sealed []byte, keyID string, err error)
	// Open decrypts a blob made by Seal for the same stream and n.
	Open(ctx context.Context, stream string, n uint64, sealed []byte) ([]byte, error)
}

// Encryption statuses and key types (DeliveryStreamEncryptionConfiguration).
const (
	EncryptionEnabled  = "ENABLED"
	EncryptionDisabled = "DISABLED"
	KeyAWSOwned        = "AWS_OWNED_CMK"
)

// Encryption is a stream's server-side encryption: while Status is
// ENABLED the records put are sealed in the spool with the appliance's
// keyring (Options.Sealer). Bounds are the spool seqs where sealing was
// switched on and off, in order: a record is sealed when the number of
// bounds at or below its seq is odd.
type Encryption struct {
	Status  string   `json:"status"`
	KeyType string   `json:"keyType,omitempty"`
	Bounds  []uint64 `json:"bounds,omitempty"`
}

// sealed reports whether the record of seq was sealed.
func (c *Encryption) sealed(seq uint64) bool {
	if c == nil {
		return false
	}
	n := 0
	for _, b := range c.Bounds {
		if b <= seq {
			n++
		}
	}
	return n%2 == 1
}

// Enabled reports whether records put now are sealed.
func (c *Encryption) Enabled() bool { return c != nil && c.Status == EncryptionEnabled }

func sealName(stream string) string { return "firehose/" + stream }

// StartEncryption turns server-side encryption of delivery stream name
// on (StartDeliveryStreamEncryption): the records put from now on are
// sealed in the spool. keyType must be AWS_OWNED_CMK (or empty): the keys
// are the appliance's keyring's. Without a Sealer it is refused.
func (e *Engine) StartEncryption(ctx context.Context, name, keyType string) error {
	return e.setEncryption(ctx, name, true, keyType)
}

// StopEncryption turns it off (StopDeliveryStreamEncryption): records
// put from now on are spooled in the clear; those sealed stay sealed
// until delivered.
func (e *Engine) StopEncryption(ctx context.Context, name string) error {
	return e.setEncryption(ctx, name, false, "")
}

func (e *Engine) setEncryption(ctx context.Context, name string, on bool, keyType string) error {
	if on && e.opts.Sealer == nil {
		return errorf(ErrInvalidArgument, "This appliance has no keyring to seal records with: server-side encryption is not available.")
	}
	switch keyType {
	case "":
		keyType = KeyAWSOwned
	case KeyAWSOwned:
	default:
		return errorf(ErrInvalidArgument, "KeyType %s is not supported by this appliance: records are sealed with the appliance's own keyring (AWS_OWNED_CMK).", keyType)
	}
	d, err := e.stream(name)
	if err != nil {
		return err
	}
	d.ctlMu.Lock()
	defer d.ctlMu.Unlock()
	// No put commits while the bound is taken: every record below it was
	// put before the change, every record above after it.
	d.putMu.Lock()
	defer d.putMu.Unlock()
	s := d.describe()
	var c Encryption
	if s.Encryption != nil {
		c = *s.Encryption
		c.Bounds = append([]uint64(nil), c.Bounds...)
	}
	if c.Enabled() == on {
		return nil
	}
	bound, err := e.seq.Next()
	if err != nil {
		return fmt.Errorf("firehose: encryption of %s: %w", name, err)
	}
	c.Bounds = append(c.Bounds, bound)
	if on {
		c.Status, c.KeyType = EncryptionEnabled, keyType
	} else {
		c.Status, c.KeyType = EncryptionDisabled, ""
	}
	s.Encryption = &c
	if err := d.save(ctx, s); err != nil {
		return fmt.Errorf("firehose: encryption of %s: %w", name, err)
	}
	return nil
}

// CanEncrypt reports whether the engine can seal records (has a Sealer).
func (e *Engine) CanEncrypt() bool { return e.opts.Sealer != nil }
