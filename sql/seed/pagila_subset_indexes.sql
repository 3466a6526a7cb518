-- Built after the bulk load (faster than maintaining them row by row), as Pagila has them.
CREATE INDEX idx_fk_inventory_id ON rental (inventory_id);
CREATE INDEX idx_fk_film_id_inventory ON inventory (film_id);
CREATE INDEX idx_fk_payment_customer_id ON payment (customer_id);
CREATE INDEX idx_fk_address_id ON customer (address_id);
CREATE INDEX idx_fk_city_id ON address (city_id);
CREATE INDEX idx_fk_country_id ON city (country_id);
CREATE INDEX idx_fk_film_id ON film_actor (film_id);
ANALYZE;
