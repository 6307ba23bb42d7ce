"""Running workflows without the browser: conversion from the browser format, command-line overrides, the HTTP
client, a ComfyUI started for the run, and the runner that ties them together."""
