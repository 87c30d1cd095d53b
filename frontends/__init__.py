"""Front ends: networks, input sets and objectives compiled to the QCQP IR."""

from qcqp.frontends.activations import ACTIVATIONS, Activation, register_activation
from qcqp.frontends.encode import NetworkEncoding, encode_network
from qcqp.frontends.network import Network
from qcqp.frontends.specs import Box, Property, Specification, linf_ball, margin_spec
from qcqp.frontends.vnnlib import load_vnnlib

__all__ = [
    "ACTIVATIONS", "Activation", "Box", "Network", "NetworkEncoding", "Property", "Specification",
    "encode_network", "linf_ball", "load_vnnlib", "margin_spec", "register_activation",
]
