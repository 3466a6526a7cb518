-- Built after the bulk load (faster than maintaining them row by row), as Pagila has them.
CREATE INDEX idx_fk_inventory_id ON rental (inventory_id);
CREATE INDEX idx_fk_film_id_inventory ON inventory (film_id);
CREATE INDEX idx_fk_payment_customer_id ON payment (customer_id);
ANALYZE;
