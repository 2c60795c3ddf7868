-- Credit records carry negated energy: the lifecycle table must take them.
ALTER TABLE chargestream.session_updates MODIFY COLUMN energy_wh Int64;
