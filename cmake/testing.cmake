# bf_add_test(NAME name SOURCES a.c ... LABELS unit|mpi|integration|gpu|slow [LIBS ...] [MPI_RANKS n] [ARGS ...] [TIMEOUT s])
# A C test is one executable that exits non-zero on failure and says what differed.
# MPI_RANKS n runs it under mpirun -n n --oversubscribe.
function(bf_add_test)
  cmake_parse_arguments(T "" "NAME;MPI_RANKS;TIMEOUT" "SOURCES;LABELS;LIBS;ARGS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  if(NOT T_LIBS)
    set(T_LIBS barforge_core)
  endif()
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS})
  target_include_directories(${T_NAME} PRIVATE ${CMAKE_SOURCE_DIR}/tests)
  if(T_MPI_RANKS)
    add_test(NAME ${T_NAME} COMMAND ${MPIEXEC_EXECUTABLE} -n ${T_MPI_RANKS} --oversubscribe $<TARGET_FILE:${T_NAME}> ${T_ARGS})
  else()
    add_test(NAME ${T_NAME} COMMAND ${T_NAME} ${T_ARGS})
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  set_tests_properties(${T_NAME} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT}
    ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1;BARFORGE_SOURCE_DIR=${CMAKE_SOURCE_DIR};BARFORGE_BIN=${CMAKE_BINARY_DIR}/barforge")
endfunction()

# bf_add_script_test(NAME name COMMAND cmd... LABELS ...): a shell or Python test.
function(bf_add_script_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "COMMAND;LABELS" ${ARGN})
  add_test(NAME ${T_NAME} COMMAND ${T_COMMAND})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 600)
  endif()
  set_tests_properties(${T_NAME} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT}
    ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1;BARFORGE_SOURCE_DIR=${CMAKE_SOURCE_DIR};BARFORGE_BIN=${CMAKE_BINARY_DIR}/barforge;PYTHONDONTWRITEBYTECODE=1")
endfunction()
