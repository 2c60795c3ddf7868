-- Sessions v3: a bill keeps the tariff (and time zone) it was priced with, so its CDR can be
-- exported the same after any tariff edit.
ALTER TABLE chargestream.billing_records ADD COLUMN IF NOT EXISTS priced_with String DEFAULT '' AFTER charging_periods;
