"""The one feature definition (:mod:`.definition`) and its two stores: in memory and in Redis."""
